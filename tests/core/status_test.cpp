#include "mmsb/status.hpp"

#include <gtest/gtest.h>

namespace mmsb {
namespace {

TEST(StatusTest, OkByDefaultAndNamesEveryCode) {
  Status ok;
  EXPECT_TRUE(ok.is_ok());
  EXPECT_EQ(ok.to_string(), "OK");
  EXPECT_EQ(status_code_name(StatusCode::kInvalidArgument), "InvalidArgument");
  EXPECT_EQ(status_code_name(StatusCode::kNotFound), "NotFound");
  EXPECT_EQ(status_code_name(StatusCode::kAlreadyExists), "AlreadyExists");
  EXPECT_EQ(status_code_name(StatusCode::kConflict), "Conflict");
  EXPECT_EQ(status_code_name(StatusCode::kCorruption), "Corruption");
  EXPECT_EQ(status_code_name(StatusCode::kIOError), "IOError");
  EXPECT_EQ(status_code_name(StatusCode::kResourceExhausted), "ResourceExhausted");
  EXPECT_EQ(status_code_name(StatusCode::kPermissionDenied), "PermissionDenied");
  EXPECT_EQ(status_code_name(StatusCode::kUnavailable), "Unavailable");
  EXPECT_EQ(status_code_name(StatusCode::kFailedPrecondition), "FailedPrecondition");
  EXPECT_EQ(status_code_name(StatusCode::kInternal), "Internal");
}

TEST(StatusTest, HelpersCarryCodeAndMessage) {
  struct Case {
    Status status;
    StatusCode code;
  };
  Case cases[] = {
      {invalid_argument("a"), StatusCode::kInvalidArgument},
      {not_found("a"), StatusCode::kNotFound},
      {already_exists("a"), StatusCode::kAlreadyExists},
      {conflict("a"), StatusCode::kConflict},
      {corruption("a"), StatusCode::kCorruption},
      {io_error("a"), StatusCode::kIOError},
      {resource_exhausted("a"), StatusCode::kResourceExhausted},
      {failed_precondition("a"), StatusCode::kFailedPrecondition},
      {internal_error("a"), StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status.is_ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "a");
  }
  EXPECT_EQ(invalid_argument("page 42: bad").to_string(), "InvalidArgument: page 42: bad");
}

Result<int> half(int value) {
  if (value % 2 != 0) return invalid_argument(std::to_string(value) + " is odd");
  return value / 2;
}

Result<int> quarter(int value) {
  MMSB_ASSIGN_OR_RETURN(int h, half(value));
  MMSB_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status check_even(int value) {
  MMSB_RETURN_IF_ERROR(half(value).status());
  return Status::ok();
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good = half(8);
  ASSERT_TRUE(good.is_ok());
  EXPECT_EQ(*good, 4);
  Result<int> bad = half(3);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "3 is odd");
}

TEST(ResultTest, MacrosPropagateTheFirstError) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).status().message(), "3 is odd");
  EXPECT_TRUE(check_even(2).is_ok());
  EXPECT_EQ(check_even(5).code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, CopiesAndMovesNonTrivialValues) {
  Result<std::string> a = std::string(100, 'x');
  Result<std::string> b = a;
  EXPECT_EQ(*b, std::string(100, 'x'));
  Result<std::string> c = std::move(a);
  EXPECT_EQ(*c, std::string(100, 'x'));
  c = not_found("gone");
  EXPECT_FALSE(c.is_ok());
  c = b;
  EXPECT_EQ(c->size(), 100u);
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> bad = half(3);
  EXPECT_DEATH((void)bad.value(), "3 is odd");
}

}  // namespace
}  // namespace mmsb
