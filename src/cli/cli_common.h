// Shared plumbing of the `recsys` command-line tool.
//
// Each subcommand lives in its own file and registers itself:
//
//   namespace {
//   struct StatsArgs { std::string data; std::string format = "auto"; };
//   }
//   RECSYS_CLI_COMMAND(stats, "", "Dataset statistics", [](CLI::App* app) {
//     auto args = std::make_shared<StatsArgs>();
//     app->add_option("--data", args->data, "input file")->required();
//     return [args](const recsys::cli::GlobalFlags& g) -> int { ... };
//   });
//
// Contract (DESIGN.md §2): with --json exactly one JSON object goes to stdout;
// errors are one line on stderr and a non-zero exit code.
#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace recsys::cli {

struct GlobalFlags {
  bool json = false;
};

using RunFn = std::function<int(const GlobalFlags&)>;
using SetupFn = std::function<RunFn(CLI::App*)>;

struct CommandSpec {
  std::string parent;  // "" for top-level, else the parent command ("bench")
  std::string name;
  std::string help;
  SetupFn setup;
};

std::vector<CommandSpec>& CommandRegistry();
inline int RegisterCommand(CommandSpec spec) {
  CommandRegistry().push_back(std::move(spec));
  return 0;
}

// Prints `status` as one line on stderr and returns the exit code (1).
int Fail(const absl::Status& status);
int Fail(const std::string& message);

// Prints the object as one line of JSON (when --json) or as indented
// human-readable JSON otherwise.
void Emit(const GlobalFlags& flags, const nlohmann::json& object);

// Prints progress/diagnostics to stderr (never stdout).
void Log(const std::string& line);

// Peak resident set size of this process so far, bytes (getrusage).
int64_t PeakRssBytes();

}  // namespace recsys::cli

#define RECSYS_CLI_COMMAND_IMPL(id, parent, name, help, setup) \
  static const int recsys_cli_command_##id =                   \
      ::recsys::cli::RegisterCommand({parent, name, help, setup})

// RECSYS_CLI_COMMAND(identifier, parent, help, setup): the command name is the
// identifier with '_' replaced by '-'.
#define RECSYS_CLI_COMMAND(id, parent, help, setup) \
  RECSYS_CLI_COMMAND_IMPL(id, parent, #id, help, setup)
