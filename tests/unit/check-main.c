/*
 * check-main: runs test_suite() with TAP output on stdout.
 */
#include "tests/unit/check-main.h"

#include <stdlib.h>

int main(void)
{
    /* TAP to stdout, check's own chatter off, so the stream stays parseable. */
    setenv("CK_TAP_LOG_FILE_NAME", "-", 0);
    setenv("CK_VERBOSITY", "silent", 0);

    SRunner *sr = srunner_create(test_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
