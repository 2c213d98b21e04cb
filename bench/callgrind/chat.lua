wrk.method = "POST"
wrk.body = [==[{"model": "bench-model", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
