#pragma once

// The list of wire types (every type with a JSON and a msgpack codec), as
// an X-macro. Internal to messages/ and its tests.

#include "messages/messages.hpp"

/// Every wire type, for the names, the API functions and the instantiations.
#define ORCH_WIRE_TYPES(X)                                                     \
  X(llm_usage)                                                                 \
  X(constraints)                                                               \
  X(task_spec)                                                                 \
  X(proposal)                                                                  \
  X(critique)                                                                  \
  X(policy_result)                                                             \
  X(lint_result)                                                               \
  X(dryrun_result)                                                             \
  X(check_result)                                                              \
  X(check_suite)                                                               \
  X(deliberation_result)                                                       \
  X(agent_failure)                                                             \
  X(deliberation_outcome)                                                      \
  X(deliberation_update)                                                       \
  X(selection)                                                                 \
  X(council_config)                                                            \
  X(council_info)                                                              \
  X(node_info)                                                                 \
  X(orchestrator_stats)                                                        \
  X(event_envelope)
