// mmsb: the command-line program.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include "mmsb/version.hpp"
#include "tools/mmsb/commands.hpp"
#include "tools/mmsb/demo.hpp"
#include "tools/mmsb/ingest.hpp"
#include "tools/mmsb/net.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mmsb: a deterministic, versioned state engine"};
  app.require_subcommand(1);

  app.add_subcommand("version", "Print the version")->callback([] {
    fmt::print("mmsb {}\nformats: {}\n", mmsb::kVersion, mmsb::kFormats);
  });

  mmsb::cli::DemoOptions demo_options;
  CLI::App* demo = app.add_subcommand(
      "demo", "Build a state, fork it, change the fork and the parent, merge, print the root");
  demo->add_option("--pages", demo_options.pages, "Pages in the state")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}));
  demo->add_option("--page-size", demo_options.page_size_bytes, "Bytes per page")
      ->check(CLI::Range(std::uint64_t{16}, std::uint64_t{1} << 20));
  demo->add_option("--change-percent", demo_options.change_percent,
                   "Percent of pages each side changes")
      ->check(CLI::Range(0.0, 50.0));
  demo->add_option("--dir", demo_options.dir, "Data directory for the engine part");
  demo->add_option("--threads", demo_options.threads, "Committing threads")
      ->check(CLI::Range(1, 64));
  demo->add_option("--commits", demo_options.commits_per_thread, "Commits per thread")
      ->check(CLI::Range(1, 10'000'000));
  demo->add_option("--particles", demo_options.particles, "Particles in the rules world")
      ->check(CLI::Range(std::uint64_t{2}, std::uint64_t{1'000'000}));
  demo->add_option("--particle-ticks", demo_options.particle_ticks, "Ticks of the rules world")
      ->check(CLI::Range(1, 1'000'000));
  int exit_code = 0;
  demo->callback([&] { exit_code = mmsb::cli::run_demo(demo_options); });

  mmsb::cli::ReplayCommand replay_command;
  CLI::App* replay = app.add_subcommand(
      "replay", "Rebuild the state from a data directory, checking every tick's root");
  replay->add_option("dir", replay_command.dir, "Data directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  replay->add_option("--to", replay_command.to, "Stop after this tick");
  replay->add_flag("--verify", replay_command.verify,
                   "Re-execute the logged inputs and compare every outcome, id and root");
  replay->add_flag("--full", replay_command.full, "Ignore checkpoints: replay the whole log");
  replay->callback([&] { exit_code = mmsb::cli::run_replay(replay_command); });

  std::string verify_dir;
  CLI::App* verify = app.add_subcommand(
      "verify", "Check a data directory: checksums, chain, roots, checkpoints (exit 0 or 1)");
  verify->add_option("dir", verify_dir, "Data directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  verify->callback([&] { exit_code = mmsb::cli::run_verify(verify_dir); });

  std::string log_dir;
  std::optional<std::uint64_t> log_tick;
  CLI::App* log = app.add_subcommand("log", "Look at a data directory's log");
  log->require_subcommand(1);
  CLI::App* inspect = log->add_subcommand("inspect", "List segments and ticks, or dump one tick");
  inspect->add_option("dir", log_dir, "Data directory")->required()->check(CLI::ExistingDirectory);
  inspect->add_option("--tick", log_tick, "Dump the record of this tick");
  inspect->callback([&] { exit_code = mmsb::cli::run_log_inspect(log_dir, log_tick); });

  std::string checkpoint_dir;
  CLI::App* checkpoint = app.add_subcommand("checkpoint", "Write a checkpoint of a data directory");
  checkpoint->add_option("dir", checkpoint_dir, "Data directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  checkpoint->callback([&] { exit_code = mmsb::cli::run_checkpoint(checkpoint_dir); });

  mmsb::cli::IngestBenchOptions ingest_options;
  CLI::App* bench = app.add_subcommand("bench", "Measure a part of mmsb");
  bench->require_subcommand(1);
  CLI::App* ingest = bench->add_subcommand(
      "ingest", "Packets from producer threads through governance into state, logged");
  ingest->add_option("--producers", ingest_options.producers, "Producer threads")
      ->check(CLI::Range(1, 256));
  ingest->add_option("--seconds", ingest_options.seconds, "How long to submit")
      ->check(CLI::Range(0.1, 3600.0));
  ingest->add_option("--payload", ingest_options.payload_bytes,
                     "Payload bytes per packet (above 40: by reference)")
      ->check(CLI::Range(0u, 1u << 20));
  ingest->add_option("--durability", ingest_options.durability, "none, flush or fsync")
      ->check(CLI::IsMember({"none", "flush", "fsync"}));
  ingest->add_option("--dir", ingest_options.dir, "Data directory (default: a temporary one)");
  ingest->callback([&] { exit_code = mmsb::cli::run_ingest_bench(ingest_options); });

  mmsb::cli::add_net_commands(app, *bench, exit_code);

  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
