// The C ABI's handles and its error convention (include/mmsb/mmsb.h): each handle wraps the
// C++ object it names; every entry point runs its body through guard(), which turns a
// Status or an exception into an mmsb_status and this thread's last error message.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmsb/engine.hpp"
#include "mmsb/mmsb.h"

struct mmsb_engine {
  std::unique_ptr<mmsb::Engine> engine;
};

struct mmsb_txn {
  std::optional<mmsb::Transaction> txn;
  bool committed = false;
  std::vector<std::uint64_t> created_pages;
  std::vector<std::uint64_t> created_edges;
  std::vector<mmsb_receipt> receipts;
};

struct mmsb_snapshot {
  mmsb::State state;
};

struct mmsb_fork {
  mmsb::Fork fork;
};

struct mmsb_producer {
  mmsb::Producer producer;
};

namespace mmsb::capi {

// Records `status` as this thread's last error (if it is one) and returns its code.
mmsb_status report(const Status& status);
// Runs `body` (returning a Status): its code, or MMSB_INTERNAL / MMSB_RESOURCE_EXHAUSTED
// for an exception, which never leaves.
template <typename Body>
mmsb_status guard(Body&& body) noexcept {
  try {
    return report(body());
  } catch (const std::bad_alloc&) {
    return report(Status(StatusCode::kResourceExhausted, "out of memory"));
  } catch (const std::exception& error) {
    return report(internal_error(std::string("unexpected exception: ") + error.what()));
  } catch (...) {
    return report(internal_error("unexpected exception"));
  }
}

// InvalidArgument naming `what` if `pointer` is null.
inline Status require(const void* pointer, const char* what) {
  if (pointer != nullptr) return Status::ok();
  return invalid_argument(std::string(what) + " is NULL");
}

inline mmsb_hash to_c(const Hash128& hash) {
  mmsb_hash out;
  auto bytes = hash.to_bytes();
  for (std::size_t i = 0; i < bytes.size(); ++i) out.bytes[i] = bytes[i];
  return out;
}

inline std::span<const std::byte> bytes_of(const void* data, std::size_t length) {
  return {static_cast<const std::byte*>(data), length};
}

void fill_page(const PageView& view, mmsb_page* out);

}  // namespace mmsb::capi
