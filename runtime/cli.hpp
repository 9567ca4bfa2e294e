#pragma once

namespace orch {

/// The `orchestrator` command line; returns the process exit code.
int run_cli(int argc, char** argv);

} // namespace orch
