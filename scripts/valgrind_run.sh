#!/usr/bin/env bash
# valgrind_run.sh COMMAND... — runs COMMAND under valgrind (memcheck: invalid reads and writes,
# uninitialised values, definite and indirect leaks) for CTest. Passes when valgrind found
# nothing and COMMAND exited 0 or 1 (brine scan's "a file is not safe").
set -u
valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --track-origins=yes --quiet "$@"
rc=$?
echo "exit status $rc"
[ $rc -le 1 ]
