// WorkerPool: bounded queue + fixed threads (see the header).
#include "manager/WorkerPool.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace megafuse::manager {

WorkerPool::WorkerPool(size_t threads, size_t maxQueued) : maxQueued_(maxQueued) {
    threads_.reserve(threads == 0 ? 1 : threads);
    for (size_t i = 0; i < (threads == 0 ? 1 : threads); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) {
        thread.join();
    }
}

bool WorkerPool::submit(std::function<void()> task) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= maxQueued_) {
            return false;
        }
        queue_.push_back(std::move(task));
    }
    wake_.notify_one();
    return true;
}

void WorkerPool::run() {
    while (true) {
        std::function<void()> task;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping and drained
            }
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            task();
        } catch (const std::exception& e) {
            spdlog::error("worker task failed: {}", e.what());
        } catch (...) {
            spdlog::error("worker task failed with a non-standard exception");
        }
    }
}

}  // namespace megafuse::manager
