
plan/T1