#!/usr/bin/env python3
"""bench/ab.py - binaries compared in alternated rounds, by wall clock.

Usage: bench/ab.py ROUNDS SLEEP BIN [BIN ...] -- ARGS...

Each round runs every BIN once with ARGS, in turn (output to /dev/null),
after SLEEP seconds of idle if SLEEP is not 0 (on a VM, memory freed for
a few seconds goes back to the host, and a run after a pause pays for
backing it again). Every other round runs them in the reverse order: on
the VM this was written on, a run's time depended on the run before it
(the same binary took 200 ms in one place of a fixed order and 320 ms in
another), and a fixed order made a difference of place look like one of
code. Prints the median wall clock of each binary, with its
quartiles and minimum: on a shared machine the spread is part of the
figure. Example:

    bench/ab.py 10 0 /tmp/old/relayguard build/relayguard -- \\
        parse --stats bench/out/postfix-1000000.log
"""
import statistics
import subprocess
import sys
import time


def main(argv):
    if "--" not in argv or len(argv) < 4:
        sys.exit(__doc__)
    sep = argv.index("--")
    rounds, pause = int(argv[0]), float(argv[1])
    bins, args = argv[2:sep], argv[sep + 1:]
    walls = {b: [] for b in bins}
    for r in range(rounds):
        for b in (bins if r % 2 == 0 else bins[::-1]):
            if pause:
                time.sleep(pause)
            t = time.perf_counter()
            subprocess.run([b] + args, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            walls[b].append((time.perf_counter() - t) * 1000)
    for b in bins:
        x = sorted(walls[b])
        print("%-32s median %7.1f ms  q1 %7.1f  q3 %7.1f  min %7.1f"
              % (b, statistics.median(x), x[len(x) // 4],
                 x[3 * len(x) // 4], x[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
