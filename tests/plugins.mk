# Plugins for tests/unit/test_policy.c, built as $(B)/plugins/NAME.so for
# any build directory B: the deliberately broken ones from tests/plugins/,
# and the example policies from examples/policies/ (against the in-tree
# header, as an out-of-tree build would use the installed one).
#
# Include it from the Makefile after B, CC, CFLAGS and LDFLAGS are set; it
# defines only variables and pattern rules, so it does not change the
# default goal.  Add $(PLUGIN_SOS) to `all`, and
# $(PLUGIN_FILES:%=$(B)/asan/plugins/%) to the asan build's targets.

PLUGIN_FLAGS := -std=c11 -Wall -Wextra -Werror -fPIC -shared -Iinclude
PLUGIN_TESTS := good noentry badmagic newminor shortsize createfail dupname
PLUGIN_EXAMPLES := sjf easy
PLUGIN_FILES := $(PLUGIN_TESTS:%=%.so) $(PLUGIN_EXAMPLES:%=%.so)
PLUGIN_SOS = $(PLUGIN_FILES:%=$(B)/plugins/%)
PLUGIN_HDRS := include/ksched/policy.h include/ksched/common.h \
               include/ksched/membership.h

$(B)/plugins/%.so: tests/plugins/%.c $(PLUGIN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_FLAGS) $(CFLAGS) $(LDFLAGS) $< -o $@

$(B)/plugins/%.so: examples/policies/%.c $(PLUGIN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_FLAGS) $(CFLAGS) $(LDFLAGS) $< -o $@
