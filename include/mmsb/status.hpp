// Status and Result<T>: how every fallible mmsb call reports failure.
//
// A Status is OK or carries a code and a message that names the thing that went wrong
// ("page 42: delta run 3 [1000,1100) exceeds page size 1024"). An OK Status allocates
// nothing. Result<T> holds either a T or a non-OK Status. Both are [[nodiscard]]: ignoring
// an error is a compile error under -Werror.
#pragma once

#include <cstdint>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mmsb/assert.hpp"

namespace mmsb {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed or out of range
  kNotFound,            // a named page, edge or file does not exist
  kAlreadyExists,       // a named thing exists and must not
  kConflict,            // an optimistic check or a merge found concurrent changes
  kCorruption,          // stored bytes fail a checksum or a structural check
  kIOError,             // the operating system refused a read, write or sync
  kResourceExhausted,   // a documented limit was reached
  kPermissionDenied,    // governance or the file system refused
  kUnavailable,         // the engine is closed or not ready
  kFailedPrecondition,  // the call is valid but not in the current state
  kInternal,            // a bug in mmsb; please report it
};

// The highest code: codes are stored on disk and sent on the wire as one byte up to it.
inline constexpr std::uint8_t kStatusCodeLast = static_cast<std::uint8_t>(StatusCode::kInternal);

// Returns the stable name of a code, for example "InvalidArgument".
std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
    MMSB_ASSERT(code != StatusCode::kOk);
  }

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: page 42: ..." or "OK".
  std::string to_string() const;

  // Marks a status as deliberately ignored.
  void ignore() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& out, const Status& status);

Status invalid_argument(std::string message);
Status not_found(std::string message);
Status already_exists(std::string message);
Status conflict(std::string message);
Status corruption(std::string message);
Status io_error(std::string message);
Status resource_exhausted(std::string message);
Status failed_precondition(std::string message);
Status internal_error(std::string message);

// Either a value or a non-OK Status. Accessing the value of an error is a programmer error
// (asserted). Result<void> is not provided: use Status.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "use Status directly");

 public:
  Result(const T& value) : has_value_(true) { new (&value_) T(value); }        // NOLINT
  Result(T&& value) : has_value_(true) { new (&value_) T(std::move(value)); }  // NOLINT
  Result(Status status) : status_(std::move(status)) {                         // NOLINT
    MMSB_ASSERT_MSG(!status_.is_ok(), "Result built from an OK status without a value");
  }
  Result(const Result& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&value_) T(other.value_);
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : status_(std::move(other.status_)), has_value_(other.has_value_) {
    if (has_value_) new (&value_) T(std::move(other.value_));
  }
  Result& operator=(Result other) {
    reset();
    status_ = std::move(other.status_);
    has_value_ = other.has_value_;
    if (has_value_) new (&value_) T(std::move(other.value_));
    return *this;
  }
  ~Result() { reset(); }

  bool is_ok() const { return has_value_; }
  explicit operator bool() const { return has_value_; }
  const Status& status() const { return status_; }

  T& value() & {
    MMSB_ASSERT_MSG(has_value_, status_.message().c_str());
    return value_;
  }
  const T& value() const& {
    MMSB_ASSERT_MSG(has_value_, status_.message().c_str());
    return value_;
  }
  T&& value() && {
    MMSB_ASSERT_MSG(has_value_, status_.message().c_str());
    return std::move(value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void reset() {
    if (has_value_) value_.~T();
    has_value_ = false;
  }

  Status status_;
  bool has_value_ = false;
  union {
    T value_;
  };
};

}  // namespace mmsb

#define MMSB_CONCAT_INNER(a, b) a##b
#define MMSB_CONCAT(a, b) MMSB_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define MMSB_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::mmsb::Status mmsb_status_ = (expr);           \
    if (!mmsb_status_.is_ok()) return mmsb_status_; \
  } while (false)

#define MMSB_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                               \
  if (!result.is_ok()) return result.status();        \
  lhs = std::move(result).value()

// `MMSB_ASSIGN_OR_RETURN(auto x, f());` declares x from f()'s value or returns its status.
#define MMSB_ASSIGN_OR_RETURN(lhs, expr) \
  MMSB_ASSIGN_OR_RETURN_IMPL(MMSB_CONCAT(mmsb_result_, __LINE__), lhs, expr)
