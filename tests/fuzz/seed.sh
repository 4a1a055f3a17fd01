#!/bin/bash
# tests/fuzz/seed.sh - seed the libFuzzer corpora of `make fuzz`.
#
# Usage: tests/fuzz/seed.sh BUILD_DIR
#
#   BUILD_DIR/corpus-line    one seed per line of samples/*.log, plus runs of
#                            consecutive lines (up to ~3.5 KB, under make
#                            fuzz's -max_len=4096) so that the assembler sees
#                            whole messages; the same from the shared corpus
#                            /work/shared/corpus/*.log when it is there
#                            (RG_CORPUS=DIR to use another one)
#   BUILD_DIR/corpus-config  samples/*.ini, tests/config/*.ini (if any) and a
#                            few small hand-made INI files
#
# Seeds are named after their source and line number, so running it again
# rewrites the same files; what the fuzzer added to the corpora is kept.
set -eu
[ $# = 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 64; }
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
lines=$out/corpus-line
configs=$out/corpus-config
shared=${RG_CORPUS:-/work/shared/corpus}
mkdir -p "$lines" "$configs"

# seed_lines FILE PREFIX MAXLINES - one seed per line and runs of lines
seed_lines() {
    awk -v dir="$lines" -v pre="$2" -v max="$3" '
    function flush() {
        if (run != "") {
            f = sprintf("%s/%s-run%04d", dir, pre, nrun++)
            printf "%s", run > f; close(f)
        }
        run = ""
    }
    NR > max { exit }
    {
        if (length($0) > 0) {
            f = sprintf("%s/%s-l%05d", dir, pre, NR)
            print > f; close(f)
        }
        if (length(run) + length($0) + 1 > 3500) flush()
        run = run $0 "\n"
    }
    END { flush() }' "$1"
}

n=0
for f in "$top"/samples/*.log; do
    [ -f "$f" ] || continue
    seed_lines "$f" "sample-$(basename "$f" .log)" 1000000
    n=$((n + 1))
done
if [ -d "$shared" ]; then
    for f in "$shared"/*.log; do
        [ -f "$f" ] || continue
        # at most 200 lines of each: enough variety, a quick first pass
        seed_lines "$f" "corpus-$(basename "$f" .log | tr -c 'A-Za-z0-9_.\n-' _ | cut -c1-80)" 200
        n=$((n + 1))
    done
fi
echo "seed: $(find "$lines" -type f | wc -l) files in $lines (from $n logs)"

for f in "$top"/samples/*.ini "$top"/tests/config/*.ini; do
    [ -f "$f" ] || continue
    cp "$f" "$configs/file-$(basename "$(dirname "$f")")-$(basename "$f")"
done
w() { printf '%b' "$2" > "$configs/hand-$1"; }
w empty ''
w global '[global]\ndatabase = /tmp/rg.db\nhostname = relay.example.test\n'
w parse '[parse]\ntimezone = Europe/Berlin\nyear = 2026\nmax_message_age = 6d\nmax_session_age = 2h\nmax_line_length = 16384\nspamd_window = 5m\nidentity_headers = X-Client-ID, X-Tenant\n'
w durations '[parse]\nmax_message_age = 3600\nmax_session_age = 90s\nspamd_window = 1m\n'
w comments '; a comment\n# another\n[global]\n  ; indented comment\nhostname = h ; trailing\n'
w continuation '[parse]\nidentity_headers = X-Client-ID,\n  X-Tenant-ID,\n  X-Customer\n'
w errors '[parse]\nyear = 99999\nmax_message_age = 1s\nbogus = 1\n[nosuch]\nkey = value\nnot a key line\n'
w duplicate '[parse]\nyear = 2025\nyear = 2026\n[parse]\ntimezone = UTC\n'
w crlf '[global]\r\nhostname = crlf.example\r\n[parse]\r\ntimezone = UTC\r\n'
w zone-bad '[parse]\ntimezone = ../../etc/passwd\n'
w longline "[global]\nhostname = $(printf 'x%.0s' $(seq 1 250))\n"
w many-headers '[parse]\nidentity_headers = A,B,C,D,E,F,G,H,I,J,K,L,M,N,O,P,Q,R\n'
echo "seed: $(find "$configs" -type f | wc -l) files in $configs"
