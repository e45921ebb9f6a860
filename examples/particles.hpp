// A particle world built from rules (docs/SEMANTICS.md "Rules and scheduling"): used by the
// rules example, the `mmsb demo`, the tests and the benchmarks.
//
// Pages: one per particle (position and velocity, 32 bytes), one per contact (a pair of
// neighbouring particles, 16 bytes), and one grid page whose ports stand for the cells.
// Rules:
//   motion/update  standing on every particle: moves it by its velocity and bounces it off
//                  the walls. Footprint: writes the particle. motion_rule_bulk() is the
//                  same rule with a bulk executor.
//   collide        applied at a contact when its two particles are close: swaps their
//                  velocities. Footprint: writes both particles and takes the port of the
//                  cell the first one is in, so one collision per cell per tick. Retried up
//                  to 8 times when blocked.
// Integer (fixed-point) arithmetic throughout, so the world is the same on every machine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "mmsb/mmsb.hpp"

namespace particles {

using namespace mmsb;

inline constexpr PageType kParticleType = 0x70617274;  // "part"
inline constexpr PageType kContactType = 0x636f6e74;   // "cont"
inline constexpr PageType kGridType = 0x67726964;      // "grid"
inline constexpr char kMotionRule[] = "motion/update";
inline constexpr char kCollideRule[] = "collide";

inline constexpr std::int64_t kUnit = 1024;            // fixed point: 1024 units a cell
inline constexpr std::int64_t kCells = 64;             // the world is kCells x kCells cells
inline constexpr std::int64_t kSize = kCells * kUnit;
inline constexpr std::int64_t kContactDistance = kUnit;

struct Particle {
  std::int64_t x = 0, y = 0, vx = 0, vy = 0;
};

inline Particle decode(std::span<const std::byte> bytes) {
  Particle p;
  std::memcpy(&p, bytes.data(), sizeof(p));
  return p;
}

// The particle's bytes, in place (what an executor writes: no copy, no allocation).
inline std::span<const std::byte> bytes_of(const Particle& p) {
  return std::as_bytes(std::span(&p, 1));
}

inline std::vector<std::byte> encode(const Particle& p) {
  std::vector<std::byte> bytes(sizeof(p));
  std::memcpy(bytes.data(), &p, sizeof(p));
  return bytes;
}

inline std::uint32_t cell_of(const Particle& p) {
  return static_cast<std::uint32_t>((p.y / kUnit) * kCells + p.x / kUnit);
}

inline void bounce(std::int64_t& position, std::int64_t& velocity) {
  if (position < 0) {
    position = -position;
    velocity = -velocity;
  } else if (position >= kSize) {
    position = 2 * (kSize - 1) - position;
    velocity = -velocity;
  }
}

// One tick of motion: moves the particle by its velocity and bounces it off the walls.
inline void move(Particle& p) {
  p.x += p.vx;
  p.y += p.vy;
  bounce(p.x, p.vx);
  bounce(p.y, p.vy);
}

// The contact page's pair.
inline std::pair<PageId, PageId> pair_of(std::span<const std::byte> contact) {
  std::uint64_t ids[2];
  std::memcpy(ids, contact.data(), sizeof(ids));
  return {PageId(ids[0]), PageId(ids[1])};
}

inline Rule motion_rule() {
  Rule rule;
  rule.name = kMotionRule;
  rule.standing_type = kParticleType;
  rule.footprint = [](const RuleView&, PageId scope, Footprint& out) {
    out.write(scope);
    return Status::ok();
  };
  rule.executor = [](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto bytes, view.read(scope));
    Particle p = decode(bytes);
    move(p);
    return out.write(scope, 0, bytes_of(p));
  };
  return rule;
}

// The motion rule with a bulk executor: the same rewrite over a run of particles per call
// (docs/SEMANTICS.md "Bulk executors"); same name, so logs of either form replay with the
// other.
inline Rule motion_rule_bulk() {
  Rule rule = motion_rule();
  rule.executor = nullptr;
  rule.bulk_executor = [](std::span<const RuleCall> calls) -> Status {
    for (const RuleCall& call : calls) {
      MMSB_ASSIGN_OR_RETURN(auto bytes, call.view->read(call.scope));
      Particle p = decode(bytes);
      move(p);
      MMSB_RETURN_IF_ERROR(call.out->write(call.scope, 0, bytes_of(p)));
    }
    return Status::ok();
  };
  return rule;
}

inline Rule collide_rule(PageId grid) {
  Rule rule;
  rule.name = kCollideRule;
  rule.policy = ConflictPolicy::retry(8);
  rule.footprint = [grid](const RuleView& view, PageId scope, Footprint& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto contact, view.read(scope));
    auto [a, b] = pair_of(contact);
    MMSB_ASSIGN_OR_RETURN(auto first, view.read(a));
    out.read(scope).write(a).write(b).port(grid, cell_of(decode(first)), PortDirection::kOut);
    return Status::ok();
  };
  rule.executor = [](const RuleView& view, PageId scope, DeltaSink& out) -> Status {
    MMSB_ASSIGN_OR_RETURN(auto contact, view.read(scope));
    auto [a, b] = pair_of(contact);
    MMSB_ASSIGN_OR_RETURN(auto first_bytes, view.read(a));
    MMSB_ASSIGN_OR_RETURN(auto second_bytes, view.read(b));
    Particle first = decode(first_bytes), second = decode(second_bytes);
    std::swap(first.vx, second.vx);
    std::swap(first.vy, second.vy);
    MMSB_RETURN_IF_ERROR(out.write(a, 0, bytes_of(first)));
    return out.write(b, 0, bytes_of(second));
  };
  return rule;
}

struct World {
  PageId grid;
  std::vector<PageId> particles;
  std::vector<PageId> contacts;  // contacts[i] pairs particles[i] and particles[i + 1]
};

// A splitmix64 step: the world's seeded randomness.
inline std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Creates the pages of `count` particles at seeded random velocities, placed as a random
// walk (each near the one before it, so neighbours meet often).
inline Result<World> create_world(Engine& engine, std::size_t count, std::uint64_t seed) {
  World world;
  Transaction txn = engine.begin();
  txn.create_page({.type = kGridType, .size_bytes = 8});
  std::vector<PageId> particles;
  Particle p;
  p.x = kSize / 2;
  p.y = kSize / 2;
  for (std::size_t i = 0; i < count; ++i) {
    p.x = std::clamp<std::int64_t>(p.x + static_cast<std::int64_t>(next_random(seed) % 1025) - 512,
                                   0, kSize - 1);
    p.y = std::clamp<std::int64_t>(p.y + static_cast<std::int64_t>(next_random(seed) % 1025) - 512,
                                   0, kSize - 1);
    p.vx = static_cast<std::int64_t>(next_random(seed) % 257) - 128;
    p.vy = static_cast<std::int64_t>(next_random(seed) % 257) - 128;
    particles.push_back(txn.create_page({.type = kParticleType, .size_bytes = 32,
                                         .initial = encode(p)}));
  }
  MMSB_ASSIGN_OR_RETURN(CommitInfo created, txn.commit());
  world.grid = created.created_pages[0];
  world.particles.assign(created.created_pages.begin() + 1, created.created_pages.end());
  Transaction contacts = engine.begin();
  for (std::size_t i = 0; i + 1 < world.particles.size(); ++i) {
    std::uint64_t ids[2] = {world.particles[i].value(), world.particles[i + 1].value()};
    std::vector<std::byte> bytes(sizeof(ids));
    std::memcpy(bytes.data(), ids, sizeof(ids));
    contacts.create_page({.type = kContactType, .size_bytes = 16, .initial = bytes});
  }
  MMSB_ASSIGN_OR_RETURN(CommitInfo made, contacts.commit());
  world.contacts = std::move(made.created_pages);
  return world;
}

inline Status register_rules(Engine& engine, const World& world) {
  MMSB_RETURN_IF_ERROR(engine.register_rule(motion_rule()));
  return engine.register_rule(collide_rule(world.grid));
}

// One tick: a transaction that applies `collide` at every contact whose particles are
// within kContactDistance in the current snapshot; the standing motion rule runs too.
inline Result<CommitInfo> step(Engine& engine, const World& world) {
  Transaction txn = engine.begin();
  const State& state = txn.snapshot();
  // Each particle is read once: the second of one pair is the first of the next.
  std::optional<Particle> next;
  auto read = [&](PageId page) -> std::optional<Particle> {
    auto bytes = state.read(page);
    return bytes.is_ok() ? std::optional<Particle>(decode(*bytes)) : std::nullopt;
  };
  if (!world.particles.empty()) next = read(world.particles[0]);
  for (std::size_t i = 0; i < world.contacts.size(); ++i) {
    const std::optional<Particle> p = next;
    next = read(world.particles[i + 1]);
    if (!p || !next) continue;
    const Particle& q = *next;
    if (std::abs(p->x - q.x) < kContactDistance && std::abs(p->y - q.y) < kContactDistance) {
      txn.apply(kCollideRule, world.contacts[i]);
    }
  }
  return txn.commit();
}

}  // namespace particles
