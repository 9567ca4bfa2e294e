#include "runtime/cli.hpp"

int main(int argc, char** argv) {
  return orch::run_cli(argc, argv);
}
