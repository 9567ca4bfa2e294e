#pragma once

// An immutable value that the messages of one deliberation share: copying a
// `shared<T>` copies a pointer, not the task or the proposal behind it.

#include <memory>
#include <type_traits>
#include <utility>

#include <caf/detail/scope_guard.hpp>

namespace orch {

/// A `T` that many messages and actors hold at once and nobody changes.
/// CAF serializes it as the `T` itself, so a message that leaves the node
/// carries the value and the receiving node builds its own `shared<T>`.
/// A default-constructed `shared<T>` reads as a default `T`.
template<class T>
class shared {
public:
  shared() = default;

  // Made from the value directly: a by-value parameter moved on into
  // make_shared moved a proposal twice (five strings each time).
  explicit shared(T&& x) : ptr_(std::make_shared<T>(std::move(x))) {
  }

  explicit shared(const T& x) : ptr_(std::make_shared<T>(x)) {
  }

  const T& get() const {
    return ptr_ ? *ptr_ : empty();
  }

  const T& operator*() const {
    return get();
  }

  const T* operator->() const {
    return &get();
  }

  explicit operator bool() const {
    return ptr_ != nullptr;
  }

  /// The value, moved out when this is its last holder and copied otherwise;
  /// leaves this empty.
  T take() {
    auto ptr = std::move(ptr_);
    if (!ptr)
      return T{};
    if (ptr.use_count() == 1)
      return std::move(*ptr);
    return *ptr;
  }

private:
  static const T& empty() {
    static const T x{};
    return x;
  }

  std::shared_ptr<T> ptr_;
};

template<class Inspector, class T>
std::enable_if_t<Inspector::reads_state, typename Inspector::result_type>
inspect(Inspector& f, shared<T>& x) {
  // Saving only reads the value.
  return f(const_cast<T&>(x.get()));
}

template<class Inspector, class T>
std::enable_if_t<Inspector::writes_state, typename Inspector::result_type>
inspect(Inspector& f, shared<T>& x) {
  T tmp{};
  auto guard = caf::detail::make_scope_guard(
    [&] { x = shared<T>{std::move(tmp)}; });
  return f(tmp);
}

} // namespace orch
