"""py_pool_churn.py — CPython creates and destroys a semaphore for every threading.Lock
(each Future's Condition, each Condition.wait's waiter). A ThreadPoolExecutor given 20,000
tasks at once, then 50 pools of 2,000 tasks: about 500,000 semaphores over the run, up to
about 20,000 alive at a time. Destroyed ones must give their record back, so the report has
no "were not tracked" note. Expected: clean, exit 0."""
import concurrent.futures as cf

with cf.ThreadPoolExecutor(4) as pool:
    total = sum(pool.map(lambda x: x * x, range(20000)))
for _ in range(50):
    with cf.ThreadPoolExecutor(4) as pool:
        total += sum(pool.map(abs, range(-1000, 1000)))
print("pool done", flush=True)
