#!/usr/bin/env bash
# Read a kernel log on stdin; print the lines that report a kernel problem
# and exit 0 if there is any, 1 if the log is clean.
grep -E 'WARNING:|BUG:|BUG |Oops|Kernel panic|KASAN|UBSAN|kmemleak: [0-9]+ new suspected|possible recursive locking|possible circular locking|inconsistent lock state|suspicious RCU usage|rcu_sched self-detected stall|rcu: INFO|RCU stall|general protection fault|unreferenced object|list_add corruption|list_del corruption|refcount_t:|scheduling while atomic|sleeping function called from invalid context|Call Trace:' 
