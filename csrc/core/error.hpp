// Error reporting for the C++ core.
//
// UNBLUR_REQUIRE(cond, message) throws unblur::ValueError ("file:line in function:
// message") when cond is false. It guards every entry point of the core, so a bad
// argument from a native caller is an exception, never undefined behaviour. The
// Python bindings translate ValueError into Python's ValueError and Error into
// RuntimeError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace unblur {

/// A bad argument (shape, size, parameter value).
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A failure that is not the caller's fault (FFTW could not plan, out of memory).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void fail(const char* file, int line, const char* func, const std::string& what,
                              bool value_error) {
  std::ostringstream os;
  os << file << ':' << line << " in " << func << ": " << what;
  if (value_error) throw ValueError(os.str());
  throw Error(os.str());
}
}  // namespace detail
}  // namespace unblur

#define UNBLUR_REQUIRE(cond, message)                                                     \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::ostringstream unblur_msg_;                                                     \
      unblur_msg_ << message;                                                             \
      ::unblur::detail::fail(__FILE__, __LINE__, __func__, unblur_msg_.str(), true);     \
    }                                                                                     \
  } while (0)

#define UNBLUR_CHECK(cond, message)                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::ostringstream unblur_msg_;                                                     \
      unblur_msg_ << message;                                                             \
      ::unblur::detail::fail(__FILE__, __LINE__, __func__, unblur_msg_.str(), false);    \
    }                                                                                     \
  } while (0)
