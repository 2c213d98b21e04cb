"""Calls per request, by function: run a server with a profile hook that counts Python calls and C calls
(SIGUSR1 starts counting, SIGUSR2 writes the counts to $COUNT_OUT). `count.py serve --config X` runs the gateway,
`count.py bare` bench/bare.py. Divide by the requests wrk made meanwhile (stop 25 in bench/README.md).
COUNT_WHERE=monotonic,time: those C functions counted by where each call was made (stop 29: the clock reads)."""
import signal, sys, collections, os
counts = collections.Counter()
ccounts = collections.Counter()
WHERE = set(filter(None, os.environ.get("COUNT_WHERE", "").split(",")))
def prof(frame, event, arg):
    if event == "call":
        co = frame.f_code
        counts[(co.co_filename, co.co_firstlineno, co.co_name)] += 1
    elif event == "c_call":
        name = getattr(arg, "__qualname__", str(arg))
        if name in WHERE:
            name = f"{name} <- {frame.f_code.co_filename.split('/')[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        ccounts[name] += 1
def start(*_):
    counts.clear(); ccounts.clear(); sys.setprofile(prof)
    import threading; threading.setprofile(prof)
def stop(*_):
    sys.setprofile(None)
    with open(os.environ.get("COUNT_OUT", "/tmp/i19/count.txt"), "w") as f:
        f.write(f"TOTAL py {sum(counts.values())} c {sum(ccounts.values())}\n")
        for (fn, line, name), n in counts.most_common(150):
            f.write(f"{n:8d} {fn.split('site-packages/')[-1].split('/tmp/gw-bench/')[-1]}:{line} {name}\n")
        f.write("--- C\n")
        for name, n in ccounts.most_common(60):
            f.write(f"{n:8d} {name}\n")
signal.signal(signal.SIGUSR1, start); signal.signal(signal.SIGUSR2, stop)
if sys.argv[1] == "bare":
    sys.argv = ["bare.py", "--port", "18481", "--upstream", "http://127.0.0.1:18480"]
    sys.path.insert(0, "/work/main/bench")
    import runpy; runpy.run_path("/work/main/bench/bare.py", run_name="__main__")
else:
    sys.argv = ["gateway", *sys.argv[1:]]
    from gateway.cli import main
    main()
