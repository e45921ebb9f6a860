// MMSB_ASSERT: checks programmer errors and invariants. Stays on in release builds.
//
// Use it for what must hold inside mmsb, never for input from outside (arguments, files,
// network bytes): those get a Status. On failure it prints the expression, file and line
// and aborts, because continuing with a broken invariant could corrupt state or the log.
#pragma once

namespace mmsb::detail {
[[noreturn]] void assert_failed(const char* expression, const char* file, int line,
                                const char* message);
}  // namespace mmsb::detail

#define MMSB_ASSERT(condition)                                                \
  do {                                                                        \
    if (!(condition)) [[unlikely]]                                            \
      ::mmsb::detail::assert_failed(#condition, __FILE__, __LINE__, nullptr); \
  } while (false)

#define MMSB_ASSERT_MSG(condition, message)                                     \
  do {                                                                          \
    if (!(condition)) [[unlikely]]                                              \
      ::mmsb::detail::assert_failed(#condition, __FILE__, __LINE__, (message)); \
  } while (false)

// For hot paths: checked in debug and sanitizer builds only.
#ifdef NDEBUG
#define MMSB_DEBUG_ASSERT(condition) \
  do {                               \
  } while (false)
#else
#define MMSB_DEBUG_ASSERT(condition) MMSB_ASSERT(condition)
#endif
