#include "actors/page_reserve.hpp"

#include <new>

#include <pthread.h>

#include "actors/huge_pages.hpp"

namespace orch {

page_reserve::page_reserve(size_t max_ahead) : max_ahead_(max_ahead) {
  ready_.reserve(max_ahead);
}

page_reserve::~page_reserve() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
  for (auto* b : ready_)
    unmap_huge(b, huge_page_size);
}

page_reserve& page_reserve::instance() {
  static page_reserve reserve;
  return reserve;
}

void* page_reserve::take() {
  void* block = nullptr;
  bool wake = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (target_ < max_ahead_)
      ++target_;
    if (!ready_.empty()) {
      block = ready_.back();
      ready_.pop_back();
      ++hits_;
    }
    if (!thread_.joinable() && max_ahead_ > 0)
      thread_ = std::thread{[this] { run(); }};
    wake = ready_.size() < target_;
  }
  if (wake)
    cv_.notify_one();
  return block != nullptr ? block : map_huge(huge_page_size);
}

size_t page_reserve::ready() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ready_.size();
}

size_t page_reserve::hits() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return hits_;
}

void page_reserve::run() {
  pthread_setname_np(pthread_self(), "orch.pages");
  std::unique_lock<std::mutex> lock{mtx_};
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || ready_.size() < target_; });
    if (stop_)
      return;
    lock.unlock();
    void* block = nullptr;
    try {
      block = map_huge(huge_page_size);
    } catch (const std::bad_alloc&) {
      // Out of memory: take() maps on the caller's thread and reports it
      // there; nothing is held back here.
    }
    lock.lock();
    if (block == nullptr) {
      target_ = ready_.size();
      continue;
    }
    ready_.push_back(block);
  }
}

} // namespace orch
