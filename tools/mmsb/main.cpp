// mmsb: the command-line program.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include "tools/mmsb/demo.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mmsb: a deterministic, versioned state engine"};
  app.require_subcommand(1);

  app.add_subcommand("version", "Print the version")->callback([] {
    fmt::print("mmsb {}\n", MMSB_VERSION);
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
  int exit_code = 0;
  demo->callback([&] { exit_code = mmsb::cli::run_demo(demo_options); });

  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
