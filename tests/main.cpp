#define BOOST_TEST_MODULE orchestrator
#include <boost/test/unit_test.hpp>
