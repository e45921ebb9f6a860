// RC_GTEST_PROP for properties; failures print the seed, which `RC_PARAMS=seed=N` replays.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
