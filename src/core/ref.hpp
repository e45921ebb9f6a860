// Intrusive reference counting for immutable shared structure (trie nodes, page records,
// State versions). Internal to mmsb; the public API never exposes Ref.
//
// Thread-safety: counts are atomic, so a Ref may be copied and dropped on any thread; the
// object itself must be immutable while shared (mmsb mutates only objects its owner token
// proves unshared; see src/state/radix_map.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "mmsb/assert.hpp"

namespace mmsb {

class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) : count_(0) {}  // a copy is a new object with no owners
  RefCounted& operator=(const RefCounted&) = delete;
  virtual ~RefCounted() = default;

  void ref() const { count_.fetch_add(1, std::memory_order_relaxed); }
  void unref() const {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  std::uint32_t ref_count() const { return count_.load(std::memory_order_acquire); }
  // Takes the first reference of an object no other thread can see yet, with a plain store
  // rather than a locked read-modify-write (which would also wait for every pending store,
  // such as the zeroing of a new page).
  void adopt_first_reference() const {
    MMSB_DEBUG_ASSERT(count_.load(std::memory_order_relaxed) == 0);
    count_.store(1, std::memory_order_relaxed);
  }

 private:
  mutable std::atomic<std::uint32_t> count_{0};
};

// The same counting without a vtable, for a type that is never released through a base
// pointer: the last unref deletes it as Derived. Saves the 8-byte vtable pointer of a type
// there are millions of (page records).
template <typename Derived>
class Counted {
 public:
  Counted() = default;
  Counted(const Counted&) : count_(0) {}
  Counted& operator=(const Counted&) = delete;

  void ref() const { count_.fetch_add(1, std::memory_order_relaxed); }
  void unref() const {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete static_cast<const Derived*>(this);
  }
  std::uint32_t ref_count() const { return count_.load(std::memory_order_acquire); }
  void adopt_first_reference() const {
    MMSB_DEBUG_ASSERT(count_.load(std::memory_order_relaxed) == 0);
    count_.store(1, std::memory_order_relaxed);
  }

 protected:
  ~Counted() = default;

 private:
  mutable std::atomic<std::uint32_t> count_{0};
};

template <typename T>
class Ref {
 public:
  Ref() = default;
  Ref(std::nullptr_t) {}  // NOLINT
  explicit Ref(T* object) : object_(object) {
    if (object_ != nullptr) object_->ref();
  }
  Ref(const Ref& other) : object_(other.object_) {
    if (object_ != nullptr) object_->ref();
  }
  Ref(Ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  template <typename U>
  Ref(const Ref<U>& other) : Ref(other.get()) {}  // NOLINT: upcast
  template <typename U>
  Ref(Ref<U>&& other) noexcept : object_(other.release()) {}  // NOLINT: upcast, no count change
  Ref& operator=(Ref other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  ~Ref() {
    if (object_ != nullptr) object_->unref();
  }

  // Wraps a newly created object (reference count 0) as its first reference.
  static Ref adopt(T* object) {
    object->adopt_first_reference();
    Ref ref;
    ref.object_ = object;
    return ref;
  }

  // Takes over a reference the caller holds (a pointer release() gave, say): no count change.
  static Ref take_over(T* object) {
    Ref ref;
    ref.object_ = object;
    return ref;
  }

  T* get() const { return object_; }
  // Gives up ownership without changing the count; the caller now holds the reference.
  T* release() { return std::exchange(object_, nullptr); }
  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }
  explicit operator bool() const { return object_ != nullptr; }
  friend bool operator==(const Ref& a, const Ref& b) { return a.object_ == b.object_; }

 private:
  T* object_ = nullptr;
};

template <typename T, typename... Args>
Ref<T> make_ref(Args&&... args) {
  return Ref<T>::adopt(new T(std::forward<Args>(args)...));
}

}  // namespace mmsb
