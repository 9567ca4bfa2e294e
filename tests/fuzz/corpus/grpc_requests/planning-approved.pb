
plan.approvedstoryplan-1:'
plantasks:
  - id: A
    role: DEV
