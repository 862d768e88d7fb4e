// WorkerPool: a fixed set of threads for the manager's long operations (clone, mount, unmount,
// prefetch), so D-Bus calls that only read state never wait behind a slow server.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace megafuse::manager {

class WorkerPool {
public:
    // threads ≥ 1 workers; at most maxQueued tasks wait beyond the running ones (bound from the
    // config: worker_threads / max_queued_operations, see ManagerOptions).
    WorkerPool(size_t threads, size_t maxQueued);
    // Runs what is queued to the end, then joins (tasks are bounded by their own timeouts).
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Queues a task; false when the queue is full or the pool is stopping. Tasks must not throw
    // (an escaping exception is logged and dropped).
    [[nodiscard]] bool submit(std::function<void()> task);

    [[nodiscard]] size_t threadCount() const { return threads_.size(); }

private:
    void run();

    const size_t maxQueued_;
    std::mutex mutex_;  // guards queue_ and stopping_; a leaf lock (nothing is taken under it)
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace megafuse::manager
