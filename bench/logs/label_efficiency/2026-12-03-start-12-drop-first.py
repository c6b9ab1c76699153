"""Drop each (query, seed, method)'s first run line (the 12-label step: a 12-frame start rarely
searches, so it is topped up to the next count and repeats it) from label_efficiency logs."""
import re, sys
run = re.compile(r"\s*(\S+) seed (\d+)\s+(\w+)\s+(\d+) labels:")
for path in sys.argv[1:]:
    seen = set()
    for line in open(path):
        m = run.match(line)
        if m and (key := m.group(1, 2, 3)) not in seen:
            seen.add(key)
            continue
        sys.stdout.write(line)
