#!/usr/bin/env bash
# check_banned.sh [DIR...] — no banned function is called in brine's library code (curl's
# checksrc list; STYLE.md "Parser code"). Default DIR: src/.
#
# Banned, and what to use instead:
#   sprintf vsprintf          unbounded writes          -> snprintf / vsnprintf
#   strcpy strcat strncpy     unbounded or unterminated -> memcpy with a checked length
#   strtok                    hidden state              -> memchr / explicit cursor
#   sscanf atoi atol atoll atof  no error detection     -> strtol / strtoull with end checks
#   gets                      unbounded read
#   alloca                    unbounded stack           -> mem_alloc (VLAs: -Wvla)
# Comments and string literals are ignored.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -gt 0 ] || set -- "$root/src"
banned='sprintf|vsprintf|strcpy|strcat|strncpy|strtok|strtok_r|sscanf|atoi|atol|atoll|atof|gets|alloca'

# shellcheck disable=SC2016  # the perl program is single-quoted on purpose
hits=$(find "$@" -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) -print0 | sort -z |
    xargs -0 perl -0777 -ne '
        my $t = $_;
        # blank out comments, string and character literals, keeping line breaks
        $t =~ s{/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'"'"'(?:\\.|[^'"'"'\\\n])*'"'"'}{ my $m = $&; $m =~ tr/\n//cd; $m }gse;
        my $n = 0;
        for my $line (split /\n/, $t, -1) {
            $n++;
            print "$ARGV:$n: $1\n" while $line =~ /\b('"$banned"')\s*\(/g;
        }
    ')
if [ -n "$hits" ]; then
    echo "banned functions (see scripts/check_banned.sh for what to use instead):"
    printf '%s\n' "$hits" | sed "s|^$root/||; s/^/  /"
    exit 1
fi
echo "no banned functions in: ${*#"$root/"}"
