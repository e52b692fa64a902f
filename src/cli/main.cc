// `recsys`: the command-line tool (DESIGN.md §2). Subcommands register
// themselves from their own files (see cli_common.h).
#include <algorithm>
#include <cstdio>
#include <map>

#include <sys/resource.h>

#include "cli_common.h"
#include "recsys/core/parallel.h"

namespace recsys::cli {

std::vector<CommandSpec>& CommandRegistry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

int Fail(const absl::Status& status) {
  std::string message(status.message());
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

int Fail(const std::string& message) { return Fail(absl::InvalidArgumentError(message)); }

void Emit(const GlobalFlags& flags, const nlohmann::json& object) {
  if (flags.json) {
    std::cout << object.dump() << std::endl;
  } else {
    std::cout << object.dump(2) << std::endl;
  }
}

void Log(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

int64_t PeakRssBytes() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace recsys::cli

int main(int argc, char** argv) {
  using namespace recsys::cli;
  recsys::LimitThirdPartyThreads();
  CLI::App app{"recsys: two-stage recommendation engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(RECSYS_VERSION_STRING));
  GlobalFlags flags;

  std::map<std::string, CLI::App*> apps;
  std::vector<std::pair<CLI::App*, RunFn>> runs;
  auto& registry = CommandRegistry();
  // Parents first so that children can attach to them.
  std::stable_sort(registry.begin(), registry.end(),
                   [](const CommandSpec& a, const CommandSpec& b) { return a.parent.empty() && !b.parent.empty(); });
  for (auto& spec : registry) {
    CLI::App* parent = &app;
    if (!spec.parent.empty()) {
      auto it = apps.find(spec.parent);
      if (it == apps.end()) {
        CLI::App* p = app.add_subcommand(spec.parent, spec.parent + " subcommands");
        p->require_subcommand(1);
        it = apps.emplace(spec.parent, p).first;
      }
      parent = it->second;
    }
    std::string name = spec.name;
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::App* sub = parent->add_subcommand(name, spec.help);
    sub->add_flag("--json", flags.json, "print one JSON object on stdout");
    if (spec.parent.empty()) apps.emplace(name, sub);
    runs.emplace_back(sub, spec.setup(sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  for (auto& [sub, run] : runs) {
    if (sub->parsed() && run) {
      try {
        return run(flags);
      } catch (const std::exception& e) {
        return Fail(absl::InternalError(e.what()));
      }
    }
  }
  std::fprintf(stderr, "error: no command given (see --help)\n");
  return 2;
}
