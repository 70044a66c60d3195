/* Unit tests of conf.c: exact messages for rejected files, every default and override. */
#include "conf.h"
#include "log.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The password every test file carries: it must never show in a message. */
#define SECRET "s3cret"

/*
 * Building blocks of the test files, one setting per line so the expected
 * line numbers can be read off: SRC is lines 1-4, STATE 5-7, EVENTS 8-10.
 */
#define CONNINFO "host=db port=5433 dbname=ok user=zl password=" SECRET
#define SRC_HEAD "source: {\n  conninfo = \"" CONNINFO "\";\n  base_url = \"https://ok.example\";\n"
#define SRC SRC_HEAD "};\n"
#define STATE_DB "/tmp/zl-test-conf-never-created.db"
#define STATE "state: {\n  path = \"" STATE_DB "\";\n};\n"
#define EVENTS "events: {\n  source = \"urn:test\";\n};\n"
#define BASE SRC STATE EVENTS

/* x on line 4, inside source. */
#define SRC_PLUS(x) SRC_HEAD "  " x "\n};\n" STATE EVENTS
/* x on line 6, as state.path. */
#define STATE_PATH(p) SRC "state: {\n  path = \"" p "\";\n};\n" EVENTS
/* x on line 10, inside events. */
#define EV_PLUS(x) SRC STATE "events: {\n  source = \"urn:test\";\n  " x "\n};\n"
/* x on line 12, inside amqp. */
#define AMQP(x) BASE "amqp: {\n  " x "\n};\n"
/* x on line 12, inside retry. */
#define RETRY(x) BASE "retry: {\n  " x "\n};\n"
/* x on line 12, inside log. */
#define LOG(x) BASE "log: {\n  " x "\n};\n"
/* x on line 12, inside metrics. */
#define METRICS(x) BASE "metrics: {\n  " x "\n};\n"

#define URL_17                                                                                     \
	"[\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", "    \
	"\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", "     \
	"\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\"]"
#define NAME_201                                                                                   \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"       \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"       \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* A file conf_load() must reject, and its message; "@F@" stands for the file name. */
struct bad_case {
	const char *what;
	const char *text;
	const char *message;
};

static const struct bad_case bad_cases[] = {
    {"syntax error", "source: {\n  conninfo = \"x\";\n  base_url = ;\n};\n",
     "@F@:3: syntax error at 'base_url'"},
    {"duplicate setting", BASE "source: {\n};\n", "@F@:11: duplicate setting name at 'source'"},
    {"syntax error names the setting, not its value",
     "source: {\n  conninfo = \"password=secret\" x;\n};\n", "@F@:2: syntax error at 'conninfo'"},
    {"include of a missing file", "@include \"/nonexistent/zaaklink.d/x.conf\"\n",
     "@F@:1: cannot open include file (include file '/nonexistent/zaaklink.d/x.conf')"},
    /* libconfig's scanner would exit(2) on a directory, read a device for ever. */
    {"include of a directory", "# conf\n  @include \"/tmp\"\n",
     "@F@:2: @include '/tmp': not a regular file"},
    {"include of a device", BASE "@include \"/dev/zero\"\n",
     "@F@:11: @include '/dev/zero': not a regular file"},
    /* The scanner takes the name up to the next quote, across lines. */
    {"include name across lines", "@include \"/\nsource: {\n  conninfo = \"x\";\n};\n",
     "@F@:1: @include: the file name has a control character or a backslash"},
    {"unknown setting", SRC_PLUS("conninfoo = \"x\";"),
     "@F@:4: unknown setting 'source.conninfoo'"},
    {"unknown group", BASE "sourse: {\n  conninfo = \"x\";\n};\n",
     "@F@:11: unknown setting 'sourse'"},
    {"unknown top-level setting", BASE "debug = true;\n", "@F@:11: unknown setting 'debug'"},
    {"group given as a scalar", BASE "log = \"debug\";\n",
     "@F@:11: log: expected a group ({ ... })"},
    {"string setting given a number", "source: {\n  conninfo = 5;\n};\n",
     "@F@:2: source.conninfo: expected a string"},
    {"number setting given a string", SRC_PLUS("poll_interval = \"5\";"),
     "@F@:4: source.poll_interval: expected a number"},
    {"integer setting given a float", SRC_PLUS("range_size = 1024.0;"),
     "@F@:4: source.range_size: expected an integer"},
    {"boolean setting given a string", EV_PLUS("relink_on_label_change = \"yes\";"),
     "@F@:10: events.relink_on_label_change: expected true or false"},
    {"url given a number", AMQP("url = 5;"),
     "@F@:12: amqp.url: expected a string or a list of strings"},
    {"url list holding a number", AMQP("url = (\"amqp://a\",\n  5);"),
     "@F@:13: amqp.url: expected a string or a list of strings"},
    {"choice given a boolean", EV_PLUS("initial_sync = true;"),
     "@F@:10: events.initial_sync: expected a string"},
    {"missing conninfo", "source: {\n  base_url = \"https://ok.example\";\n};\n" STATE EVENTS,
     "@F@:1: missing required setting 'source.conninfo'"},
    {"missing base_url", "source: {\n  conninfo = \"host=db\";\n};\n" STATE EVENTS,
     "@F@:1: missing required setting 'source.base_url'"},
    {"missing source group", STATE EVENTS, "@F@: missing required setting 'source.conninfo'"},
    {"missing events.source", SRC STATE "events: {\n  initial_sync = \"announce\";\n};\n",
     "@F@:8: missing required setting 'events.source'"},
    {"missing events group", SRC STATE, "@F@: missing required setting 'events.source'"},
    {"empty events.source", SRC STATE "events: {\n  source = \"\";\n};\n",
     "@F@:9: events.source: must not be empty"},
    {"empty conninfo", "source: {\n  conninfo = \"\";\n};\n",
     "@F@:2: source.conninfo: must not be empty"},
    {"unparsable conninfo", "source: {\n  conninfo = \"host=db password " SECRET "\";\n};\n",
     "@F@:2: source.conninfo: not a valid libpq connection string "
     "(key=value pairs or a postgresql:// URI)"},
    {"base_url not http(s)",
     "source: {\n  conninfo = \"host=db\";\n  base_url = \"ftp://ok.example\";\n};\n",
     "@F@:3: source.base_url: 'ftp://ok.example' must start with http:// or https://"},
    {"base_url without scheme",
     "source: {\n  conninfo = \"host=db\";\n  base_url = \"ok.example\";\n};\n",
     "@F@:3: source.base_url: 'ok.example' must start with http:// or https://"},
    {"base_url without host",
     "source: {\n  conninfo = \"host=db\";\n  base_url = \"https:///\";\n};\n",
     "@F@:3: source.base_url: 'https:' has no host"},
    {"zero poll_interval", SRC_PLUS("poll_interval = 0;"),
     "@F@:4: source.poll_interval: 0 is out of range, expected 0.1 to 86400"},
    {"poll_interval just below 0.1", SRC_PLUS("poll_interval = 0.0999;"),
     "@F@:4: source.poll_interval: 0.0999 is out of range, expected 0.1 to 86400"},
    {"negative poll_interval", SRC_PLUS("poll_interval = -1.5;"),
     "@F@:4: source.poll_interval: -1.5 is out of range, expected 0.1 to 86400"},
    {"poll_interval above a day", SRC_PLUS("poll_interval = 86400.5;"),
     "@F@:4: source.poll_interval: 86400.5 is out of range, expected 0.1 to 86400"},
    {"poll_interval 1e300", SRC_PLUS("poll_interval = 1e300;"),
     "@F@:4: source.poll_interval: 1e+300 is out of range, expected 0.1 to 86400"},
    /* libconfig reads no "inf" or "nan", but an overflowing literal is inf. */
    {"poll_interval infinite", SRC_PLUS("poll_interval = 1e999;"),
     "@F@:4: source.poll_interval: inf is out of range, expected 0.1 to 86400"},
    {"poll_interval minus infinity", SRC_PLUS("poll_interval = -1e999;"),
     "@F@:4: source.poll_interval: -inf is out of range, expected 0.1 to 86400"},
    {"empty schema", SRC_PLUS("schema = \"\";"), "@F@:4: source.schema: must not be empty"},
    {"schema longer than PostgreSQL keeps",
     SRC_PLUS("schema = \"s123456789012345678901234567890123456789012345678901234567890123\";"),
     "@F@:4: source.schema: 64 bytes, expected at most 63 (PostgreSQL would cut the name "
     "short)"},
    {"schema of 63 characters but 64 bytes",
     SRC_PLUS("schema = \"\xc3\xa9"
              "12345678901234567890123456789012345678901234567890123456789012\";"),
     "@F@:4: source.schema: 64 bytes, expected at most 63 (PostgreSQL would cut the name "
     "short)"},
    {"schema given a number", SRC_PLUS("schema = 1;"), "@F@:4: source.schema: expected a string"},
    {"range_size too small", SRC_PLUS("range_size = 15;"),
     "@F@:4: source.range_size: 15 is out of range, expected 16 to 1048576"},
    {"range_size too large (64-bit)", SRC_PLUS("range_size = 10000000000L;"),
     "@F@:4: source.range_size: 10000000000 is out of range, expected 16 to 1048576"},
    {"zero source.connect_timeout", SRC_PLUS("connect_timeout = 0;"),
     "@F@:4: source.connect_timeout: 0 is out of range, expected 1 to 86400"},
    {"negative source.connect_timeout", SRC_PLUS("connect_timeout = -1;"),
     "@F@:4: source.connect_timeout: -1 is out of range, expected 1 to 86400"},
    {"source.connect_timeout above a day", SRC_PLUS("connect_timeout = 86401;"),
     "@F@:4: source.connect_timeout: 86401 is out of range, expected 1 to 86400"},
    {"source.connect_timeout INT64_MAX", SRC_PLUS("connect_timeout = 9223372036854775807L;"),
     "@F@:4: source.connect_timeout: 9223372036854775807 is out of range, expected 1 to 86400"},
    {"zero query_timeout", SRC_PLUS("query_timeout = 0;"),
     "@F@:4: source.query_timeout: 0 is out of range, expected 1 to 86400"},
    {"query_timeout above a day", SRC_PLUS("query_timeout = 86401;"),
     "@F@:4: source.query_timeout: 86401 is out of range, expected 1 to 86400"},
    {"query_timeout INT64_MIN", SRC_PLUS("query_timeout = -9223372036854775808L;"),
     "@F@:4: source.query_timeout: -9223372036854775808 is out of range, expected 1 to 86400"},
    {"negative label_max_length", EV_PLUS("label_max_length = -1;"),
     "@F@:10: events.label_max_length: -1 is out of range, expected 0 to 10000"},
    {"label_max_length above 10000", EV_PLUS("label_max_length = 10001;"),
     "@F@:10: events.label_max_length: 10001 is out of range, expected 0 to 10000"},
    {"invalid_zaak_id maybe", EV_PLUS("invalid_zaak_id = \"maybe\";"),
     "@F@:10: events.invalid_zaak_id: unknown value 'maybe', expected skip or emit"},
    {"initial_sync unknown", EV_PLUS("initial_sync = \"all\";"),
     "@F@:10: events.initial_sync: unknown value 'all', expected baseline or announce"},
    {"state path in a missing directory", STATE_PATH("/nonexistent-zl-dir/state.db"),
     "@F@:6: state.path: directory /nonexistent-zl-dir does not exist"},
    {"state path under a regular file", STATE_PATH("/etc/passwd/x.db"),
     "@F@:6: state.path: /etc/passwd is not a directory"},
    {"state path below a regular file", STATE_PATH("/etc/passwd/sub/x.db"),
     "@F@:6: state.path: could not access directory /etc/passwd/sub: Not a directory"},
    /* The root of /proc/sys refuses writes even to root. */
    {"state path in an unwritable directory", STATE_PATH("/proc/sys/x.db"),
     "@F@:6: state.path: directory /proc/sys is not writable: Permission denied"},
    {"state path naming a directory", STATE_PATH("/tmp/"),
     "@F@:6: state.path: '/tmp/' names a directory, expected a file"},
    {"state path is a directory", STATE_PATH("/tmp/."),
     "@F@:6: state.path: /tmp/. is a directory, expected a file"},
    {"empty state path", STATE_PATH(""), "@F@:6: state.path: must not be empty"},
    {"state path and conninfo both",
     SRC "state: {\n  path = \"" STATE_DB "\";\n  conninfo = \"host=db\";\n};\n" EVENTS,
     "@F@:6: state: state.path and state.conninfo are both set; set exactly one (path: "
     "SQLite, conninfo: PostgreSQL)"},
    {"state schema not plain",
     SRC "state: {\n  conninfo = \"host=db\";\n  schema = \"Zaak-link\";\n};\n" EVENTS,
     "@F@:7: state.schema: 'Zaak-link' is not a plain identifier (lower-case letters, digits "
     "and _, not starting with a digit)"},
    {"state conninfo unparsable", SRC "state: {\n  conninfo = \"host=db password\";\n};\n" EVENTS,
     "@F@:6: state.conninfo: not a valid libpq connection string "
     "(key=value pairs or a postgresql:// URI)"},
    {"unparsable amqp url", AMQP("url = \"amqp://guest:" SECRET "@host:abc/\";"),
     "@F@:12: amqp.url: 'amqp://guest:***@host:abc/' is not a valid AMQP URL, expected "
     "amqp[s]://[user[:password]@]host[:port][/vhost]"},
    {"unknown url scheme", AMQP("url = \"http://guest:" SECRET "@host/\";"),
     "@F@:12: amqp.url: unsupported scheme 'http', expected amqp:// or amqps://"},
    {"upper-case url scheme", AMQP("url = \"AMQP://host/\";"),
     "@F@:12: amqp.url: unsupported scheme 'AMQP', expected amqp:// or amqps://"},
    {"url without scheme", AMQP("url = \"guest:" SECRET "@host\";"),
     "@F@:12: amqp.url: not a URL, expected amqp:// or amqps://"},
    {"bad url in a list", AMQP("url = [\"amqp://a\",\n  \"amqps://u:" SECRET "@b:x\"];"),
     "@F@:13: amqp.url: 'amqps://u:***@b:x' is not a valid AMQP URL, expected "
     "amqp[s]://[user[:password]@]host[:port][/vhost]"},
    {"empty url", AMQP("url = \"\";"), "@F@:12: amqp.url: must not be empty"},
    {"empty url list", AMQP("url = [];"),
     "@F@:12: amqp.url: the list is empty, expected 1 to 16 URLs"},
    {"17 urls", AMQP("url = " URL_17 ";"), "@F@:12: amqp.url: 17 URLs, expected at most 16"},
    {"empty exchange", AMQP("exchange = \"\";"), "@F@:12: amqp.exchange: must not be empty"},
    {"exchange with a space", AMQP("exchange = \"my exchange\";"),
     "@F@:12: amqp.exchange: 'my exchange' must not contain spaces or control characters"},
    {"exchange of 201 characters", AMQP("exchange = \"" NAME_201 "\";"),
     "@F@:12: amqp.exchange: longer than 200 characters"},
    {"heartbeat above 600", AMQP("heartbeat = 601;"),
     "@F@:12: amqp.heartbeat: 601 is out of range, expected 0 to 600"},
    {"batch_size 0", AMQP("batch_size = 0;"),
     "@F@:12: amqp.batch_size: 0 is out of range, expected 1 to 65535"},
    {"batch_size 65536", AMQP("batch_size = 65536;"),
     "@F@:12: amqp.batch_size: 65536 is out of range, expected 1 to 65535"},
    {"negative heartbeat", AMQP("heartbeat = -1;"),
     "@F@:12: amqp.heartbeat: -1 is out of range, expected 0 to 600"},
    {"zero confirm_timeout", AMQP("confirm_timeout = 0.0;"),
     "@F@:12: amqp.confirm_timeout: 0 is out of range, expected 0.1 to 86400"},
    {"confirm_timeout just below 0.1", AMQP("confirm_timeout = 0.0999;"),
     "@F@:12: amqp.confirm_timeout: 0.0999 is out of range, expected 0.1 to 86400"},
    {"confirm_timeout above a day", AMQP("confirm_timeout = 86400.5;"),
     "@F@:12: amqp.confirm_timeout: 86400.5 is out of range, expected 0.1 to 86400"},
    {"confirm_timeout 1e300", AMQP("confirm_timeout = 1e300;"),
     "@F@:12: amqp.confirm_timeout: 1e+300 is out of range, expected 0.1 to 86400"},
    {"confirm_timeout infinite", AMQP("confirm_timeout = 1e999;"),
     "@F@:12: amqp.confirm_timeout: inf is out of range, expected 0.1 to 86400"},
    {"negative amqp.connect_timeout", AMQP("connect_timeout = -2;"),
     "@F@:12: amqp.connect_timeout: -2 is out of range, expected 0.1 to 86400"},
    {"amqp.connect_timeout above a day", AMQP("connect_timeout = 86401;"),
     "@F@:12: amqp.connect_timeout: 86401 is out of range, expected 0.1 to 86400"},
    {"amqp.connect_timeout 1e300", AMQP("connect_timeout = 1e300;"),
     "@F@:12: amqp.connect_timeout: 1e+300 is out of range, expected 0.1 to 86400"},
    {"amqp.connect_timeout -1e300", AMQP("connect_timeout = -1e300;"),
     "@F@:12: amqp.connect_timeout: -1e+300 is out of range, expected 0.1 to 86400"},
    {"max_backoff below 1", AMQP("max_backoff = 0.5;"),
     "@F@:12: amqp.max_backoff: 0.5 is out of range, expected 1 to 86400"},
    {"max_backoff above a day", AMQP("max_backoff = 86400.001;"),
     "@F@:12: amqp.max_backoff: 86400.001 is out of range, expected 1 to 86400"},
    {"max_backoff 1e300", AMQP("max_backoff = 1e300;"),
     "@F@:12: amqp.max_backoff: 1e+300 is out of range, expected 1 to 86400"},
    {"max_backoff infinite", AMQP("max_backoff = 1e999;"),
     "@F@:12: amqp.max_backoff: inf is out of range, expected 1 to 86400"},
    {"max_backoff INT64_MAX", AMQP("max_backoff = 9223372036854775807L;"),
     "@F@:12: amqp.max_backoff: 9.22337203685478e+18 is out of range, expected 1 to 86400"},
    {"verify_peer given a number", AMQP("verify_peer = 1;"),
     "@F@:12: amqp.verify_peer: expected true or false"},
    {"unreadable ca_file", AMQP("ca_file = \"/nonexistent-zl-dir/ca.pem\";"),
     "@F@:12: amqp.ca_file: could not read /nonexistent-zl-dir/ca.pem: "
     "No such file or directory"},
    {"ca_file is a directory", AMQP("ca_file = \"/tmp\";"),
     "@F@:12: amqp.ca_file: /tmp is a directory, expected a file"},
    {"cert_file without key_file", AMQP("cert_file = \"/etc/passwd\";"),
     "@F@:12: amqp.cert_file: set without amqp.key_file, expected both or neither"},
    {"queues given a group", AMQP("queues = { name = \"q\"; };"),
     "@F@:12: amqp.queues: expected a list of groups ( { name = ...; } )"},
    {"queue without a name", AMQP("queues = ( { bindings = [ \"#\" ]; } );"),
     "@F@:12: amqp.queues: missing required setting 'name'"},
    {"queue without bindings", AMQP("queues = (\n  { name = \"q\"; }\n);"),
     "@F@:13: amqp.queues: queue 'q' has no bindings, expected a list of routing key patterns"},
    {"queue with an empty binding list", AMQP("queues = ( { name = \"q\"; bindings = [ ]; } );"),
     "@F@:12: amqp.queues: bindings of 'q': 0 patterns, expected 1 to 32"},
    {"queue of unknown type",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ];\n  type = \"stream\"; } );"),
     "@F@:13: amqp.queues: type of 'q': expected classic or quorum"},
    {"amqp.queue_type unknown", AMQP("queue_type = \"stream\";"),
     "@F@:12: amqp.queue_type: unknown value 'stream', expected classic or quorum"},
    {"delivery_limit on a classic queue",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ];\n  delivery_limit = 3; } );"),
     "@F@:13: amqp.queues: delivery_limit of 'q': only quorum queues have one "
     "(type = quorum)"},
    {"delivery_limit 0",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ]; type = \"quorum\";\n"
          "  delivery_limit = 0; } );"),
     "@F@:13: amqp.queues: delivery_limit of 'q': 0 is out of range, expected 1 to 1000000"},
    {"unknown queue setting",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ];\n  durable = false; } );"),
     "@F@:13: unknown setting 'amqp.queues.durable'"},
    {"queue listed twice",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ]; },\n"
          "  { name = \"q\"; bindings = [ \"a\" ]; } );"),
     "@F@:13: amqp.queues: queue 'q' is listed twice"},
    {"queue named like the parking queue",
     AMQP("queues = ( { name = \"zaaklink.events.dlq\"; bindings = [ \"#\" ]; } );"),
     "@F@:12: amqp.queues: name 'zaaklink.events.dlq' is one of zaaklink's own queues of "
     "exchange zaaklink.events"},
    {"queue named like a wait tier",
     AMQP("queues = ( { name = \"zaaklink.events.wait.10s\"; bindings = [ \"#\" ]; } );"),
     "@F@:12: amqp.queues: name 'zaaklink.events.wait.10s' is one of zaaklink's own queues "
     "of exchange zaaklink.events"},
    {"queue in the amq. namespace",
     AMQP("queues = ( { name = \"amq.q\"; bindings = [ \"#\" ]; } );"),
     "@F@:12: amqp.queues: name 'amq.q' is reserved by RabbitMQ (amq.)"},
    {"queue name with a space", AMQP("queues = ( { name = \"a q\"; bindings = [ \"#\" ]; } );"),
     "@F@:12: amqp.queues: name 'a q' must not contain spaces or control characters"},
    {"binding given a number",
     AMQP("queues = ( { name = \"q\"; bindings = [ \"#\" ];\n  } );"
          "\n  heartbeat = \"x\";"),
     "@F@:14: amqp.heartbeat: expected an integer"},
    {"retry.delays given a number", RETRY("delays = 10;"),
     "@F@:12: retry.delays: expected a list of seconds ([ 10, 60, ... ])"},
    {"retry.delays holding a float", RETRY("delays = ( 10,\n  1.5 );"),
     "@F@:13: retry.delays: expected whole seconds"},
    {"retry.delays holding 0", RETRY("delays = [ 0 ];"),
     "@F@:12: retry.delays: 0 is out of range, expected 1 to 2592000 seconds (30 days)"},
    {"retry.delays negative", RETRY("delays = [ -1 ];"),
     "@F@:12: retry.delays: -1 is out of range, expected 1 to 2592000 seconds (30 days)"},
    {"retry.delays INT64_MAX", RETRY("delays = [ 9223372036854775807L ];"),
     "@F@:12: retry.delays: 9223372036854775807 is out of range, expected 1 to 2592000 "
     "seconds (30 days)"},
    {"retry.delays above 30 days", RETRY("delays = [ 2592001 ];"),
     "@F@:12: retry.delays: 2592001 is out of range, expected 1 to 2592000 seconds (30 days)"},
    {"retry.delays with a tier twice", RETRY("delays = [ 10, 60,\n  10 ];"),
     "@F@:13: retry.delays: 10 is listed twice, each tier needs its own delay"},
    {"retry.delays with 17 tiers",
     RETRY("delays = [ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17 ];"),
     "@F@:12: retry.delays: 17 tiers, expected at most 16"},
    {"unknown retry setting", RETRY("attempts = 3;"), "@F@:12: unknown setting 'retry.attempts'"},
    {"unknown amqp setting", AMQP("password = \"" SECRET "\";"),
     "@F@:12: unknown setting 'amqp.password'"},
    {"log.level verbose", LOG("level = \"verbose\";"),
     "@F@:12: log.level: unknown level 'verbose', expected debug, info, warning or error"},
    {"log.level given a number", LOG("level = 3;"), "@F@:12: log.level: expected a string"},
    {"unknown metrics setting", METRICS("port = 9187;"), "@F@:12: unknown setting 'metrics.port'"},
    {"metrics.listen given a number", METRICS("listen = 9187;"),
     "@F@:12: metrics.listen: expected a string"},
    {"metrics.listen empty", METRICS("listen = \"\";"),
     "@F@:12: metrics.listen: must not be empty"},
    {"metrics.listen without a port", METRICS("listen = \"127.0.0.1\";"),
     "@F@:12: metrics.listen: '127.0.0.1' is not ADDRESS:PORT (e.g. 127.0.0.1:9187 or "
     "[::1]:9187)"},
    {"metrics.listen with an empty port", METRICS("listen = \"127.0.0.1:\";"),
     "@F@:12: metrics.listen: '127.0.0.1:' is not ADDRESS:PORT (e.g. 127.0.0.1:9187 or "
     "[::1]:9187)"},
    {"metrics.listen port only", METRICS("listen = \":9187\";"),
     "@F@:12: metrics.listen: ':9187' is not ADDRESS:PORT (e.g. 127.0.0.1:9187 or "
     "[::1]:9187)"},
    {"metrics.listen port not a number", METRICS("listen = \"127.0.0.1:http\";"),
     "@F@:12: metrics.listen: '127.0.0.1:http': port 'http' is not a number"},
    {"metrics.listen port signed", METRICS("listen = \"127.0.0.1:+80\";"),
     "@F@:12: metrics.listen: '127.0.0.1:+80': port '+80' is not a number"},
    {"metrics.listen port 0", METRICS("listen = \"127.0.0.1:0\";"),
     "@F@:12: metrics.listen: '127.0.0.1:0': port 0 is out of range, expected 1 to 65535"},
    {"metrics.listen port too large", METRICS("listen = \"127.0.0.1:65536\";"),
     "@F@:12: metrics.listen: '127.0.0.1:65536': port 65536 is out of range, expected 1 to "
     "65535"},
    {"metrics.listen host name", METRICS("listen = \"localhost:9187\";"),
     "@F@:12: metrics.listen: 'localhost' is not a numeric IPv4 address or an IPv6 address in "
     "brackets (host names are not resolved)"},
    {"metrics.listen bad IPv4", METRICS("listen = \"127.0.0.256:9187\";"),
     "@F@:12: metrics.listen: '127.0.0.256' is not a numeric IPv4 address or an IPv6 address "
     "in brackets (host names are not resolved)"},
    {"metrics.listen IPv6 without brackets", METRICS("listen = \"::1:9187\";"),
     "@F@:12: metrics.listen: '::1' is not a numeric IPv4 address or an IPv6 address in "
     "brackets (host names are not resolved)"},
    {"password_file given a number", AMQP("password_file = 5;"),
     "@F@:12: amqp.password_file: expected a string"},
    {"empty password_file", AMQP("password_file = \"\";"),
     "@F@:12: amqp.password_file: must not be empty"},
    {"relative password_file without systemd", AMQP("password_file = \"amqp.password\";"),
     "@F@:12: amqp.password_file: 'amqp.password' is a relative path and "
     "$CREDENTIALS_DIRECTORY is not set (systemd's LoadCredential= sets it); expected an "
     "absolute path"},
    {"missing password_file", AMQP("password_file = \"/nonexistent-zl/amqp.password\";"),
     "@F@:12: amqp.password_file: could not read /nonexistent-zl/amqp.password: No such "
     "file or directory"},
    {"password_file a directory", AMQP("password_file = \"/tmp\";"),
     "@F@:12: amqp.password_file: /tmp is not a regular file"},
    {"password_file a device", AMQP("password_file = \"/dev/zero\";"),
     "@F@:12: amqp.password_file: /dev/zero is not a regular file"},
    {"metrics.listen empty brackets", METRICS("listen = \"[]:9187\";"),
     "@F@:12: metrics.listen: '[]' is not a numeric IPv4 address or an IPv6 address in "
     "brackets (host names are not resolved)"},
};

/* Writes tmpl with every "@F@" replaced by file into out. */
static void expand(const char *tmpl, const char *file, char *out, size_t size)
{
	size_t n = 0;

	while (*tmpl && n + 1 < size) {
		if (strncmp(tmpl, "@F@", 3) == 0) {
			n += (size_t)snprintf(out + n, size - n, "%s", file);
			tmpl += 3;
		} else {
			out[n++] = *tmpl++;
		}
	}
	out[n < size ? n : size - 1] = '\0';
}

/* Loads text as a configuration file; NULL with err filled on rejection. */
static struct zl_conf *load_text(const char *text, struct zl_err *err, char **file)
{
	*file = unit_write_temp("conf", text);
	return conf_load(*file, err);
}

/* Asserts that text is rejected with exactly the message tmpl (code 78, no secret). */
static void assert_rejected(const char *what, const char *text, const char *tmpl)
{
	struct zl_err err = {0};
	char expected[2048];
	char *file;
	struct zl_conf *conf = load_text(text, &err, &file);

	expand(tmpl, file, expected, sizeof(expected));
	ck_assert_msg(conf == NULL, "%s: accepted", what);
	ck_assert_msg(strcmp(err.msg, expected) == 0, "%s:\n got      '%s'\n expected '%s'", what,
	              err.msg, expected);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	ck_assert_msg(strstr(err.msg, SECRET) == NULL, "%s: password in '%s'", what, err.msg);
	ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s: newline in message", what);
	unit_remove_temp(file);
}

/* Loads text, which must be accepted; the caller frees conf and file. */
static struct zl_conf *load_ok(const char *text, char **file)
{
	struct zl_err err = {0};
	struct zl_conf *conf = load_text(text, &err, file);

	ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
	return conf;
}

START_TEST(test_bad_config_rejected_with_file_line_message)
{
	const struct bad_case *c = &bad_cases[_i];

	assert_rejected(c->what, c->text, c->message);
}
END_TEST

/* An @include of a directory is found at any depth, with the including file's name. */
START_TEST(test_nested_include_of_a_directory)
{
	char text[256], expected[512];
	char *inner = unit_write_temp("conf", "log: {\n  level = \"info\";\n};\n@include \"/\"\n");
	struct zl_err err = {0};
	struct zl_conf *conf;
	char *file;

	snprintf(text, sizeof(text), BASE "@include \"%s\"\n", inner);
	conf = load_text(text, &err, &file);
	snprintf(expected, sizeof(expected), "%s:4: @include '/': not a regular file", inner);
	ck_assert_ptr_null(conf);
	ck_assert_str_eq(err.msg, expected);
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	unit_remove_temp(file);
	unit_remove_temp(inner);
}
END_TEST

START_TEST(test_missing_file)
{
	struct zl_err err = {0};

	ck_assert_ptr_null(conf_load("/nonexistent-zl-dir/zaaklink.conf", &err));
	ck_assert_str_eq(err.msg, "could not read configuration file "
	                          "/nonexistent-zl-dir/zaaklink.conf: No such file or directory");
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
}
END_TEST

START_TEST(test_file_is_a_directory)
{
	struct zl_err err = {0};

	ck_assert_ptr_null(conf_load("/tmp", &err));
	ck_assert_str_eq(err.msg, "could not read configuration file /tmp: Is a directory");
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
}
END_TEST

/* A directory nobody but root may write to; root bypasses the mode bits. */
START_TEST(test_state_directory_not_writable_for_user)
{
	char dir[] = "/tmp/zl-test-conf-dir-XXXXXX";
	char text[1024], expected[1024];

	if (geteuid() == 0)
		return; /* covered by /proc/sys in the table */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0500), 0);
	snprintf(text, sizeof(text), SRC "state: {\n  path = \"%s/state.db\";\n};\n" EVENTS, dir);
	snprintf(expected, sizeof(expected),
	         "@F@:6: state.path: directory %s is not writable: Permission denied", dir);
	assert_rejected("unwritable directory", text, expected);
	rmdir(dir);
}
END_TEST

START_TEST(test_state_file_must_be_readable_and_writable)
{
	char dir[] = "/tmp/zl-test-conf-dir-XXXXXX";
	char path[512], text[1024];
	struct zl_conf *conf;
	char *file;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(text, sizeof(text), SRC "state: {\n  path = \"%s\";\n};\n" EVENTS, path);
	conf = load_ok(text, &file);
	ck_assert_str_eq(conf->state.path, path);
	conf_free(conf);
	unit_remove_temp(file);
	if (geteuid() != 0) {
		char expected[1024];

		ck_assert_int_eq(chmod(path, 0400), 0);
		snprintf(expected, sizeof(expected),
		         "@F@:6: state.path: %s is not readable and writable: Permission denied",
		         path);
		assert_rejected("read-only state file", text, expected);
	}
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_defaults)
{
	char *file;
	struct zl_conf *conf = load_ok(BASE, &file);

	ck_assert_str_eq(conf->file, file);
	ck_assert_str_eq(conf->source.conninfo, CONNINFO);
	ck_assert_str_eq(conf->source.base_url, "https://ok.example");
	ck_assert_double_eq(conf->source.poll_interval, 5.0);
	ck_assert_int_eq(conf->source.range_size, 1024);
	ck_assert_int_eq(conf->source.connect_timeout, 10);
	ck_assert_int_eq(conf->source.query_timeout, 300);
	ck_assert_str_eq(conf->source.schema, "public");
	ck_assert_str_eq(conf->state.path, STATE_DB);
	ck_assert_str_eq(conf->events.source, "urn:test");
	ck_assert_int_eq(conf->events.label_max_length, 80);
	ck_assert(conf->events.relink_on_label_change);
	ck_assert_int_eq(conf->events.invalid_zaak_id, ZL_INVALID_SKIP);
	ck_assert_int_eq(conf->events.initial_sync, ZL_INITIAL_BASELINE);
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], "amqp://guest:guest@127.0.0.1:5672/%2f");
	ck_assert_ptr_null(conf->amqp.urls[1]);
	ck_assert_str_eq(conf->amqp.exchange, "zaaklink.events");
	ck_assert_int_eq(conf->amqp.heartbeat, 30);
	ck_assert_int_eq(conf->amqp.batch_size, 1000);
	ck_assert_double_eq(conf->amqp.confirm_timeout, 30.0);
	ck_assert_double_eq(conf->amqp.connect_timeout, 10.0);
	ck_assert_double_eq(conf->amqp.max_backoff, 60.0);
	ck_assert_int_eq(conf->amqp.queue_type, ZL_QUEUE_CLASSIC);
	ck_assert_ptr_null(conf->amqp.ca_file);
	ck_assert_ptr_null(conf->amqp.cert_file);
	ck_assert_ptr_null(conf->amqp.key_file);
	ck_assert(conf->amqp.verify_peer);
	ck_assert(conf->amqp.verify_hostname);
	ck_assert_int_eq(conf->amqp.n_queues, 0);
	ck_assert_int_eq(conf->retry.n_delays, 5);
	ck_assert_int_eq(conf->retry.delays[0], 10);
	ck_assert_int_eq(conf->retry.delays[1], 60);
	ck_assert_int_eq(conf->retry.delays[2], 300);
	ck_assert_int_eq(conf->retry.delays[3], 1800);
	ck_assert_int_eq(conf->retry.delays[4], 7200);
	ck_assert_int_eq(conf->log.level, ZL_LOG_INFO);
	ck_assert_ptr_null(conf->metrics.listen);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* metrics.listen: the address and port to bind, IPv4 or IPv6 in brackets. */
START_TEST(test_metrics_listen_parsed)
{
	static const struct {
		const char *text;
		int family;
		const char *address;
		int port;
	} cases[] = {
	    {"127.0.0.1:9187", AF_INET, "127.0.0.1", 9187},
	    {"0.0.0.0:1", AF_INET, "0.0.0.0", 1},
	    {"10.1.2.3:65535", AF_INET, "10.1.2.3", 65535},
	    {"[::1]:9187", AF_INET6, "::1", 9187},
	    {"[fd00::2:1]:8080", AF_INET6, "fd00::2:1", 8080},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		char text[1024], addr[INET6_ADDRSTRLEN], *file;
		struct zl_conf *conf;

		snprintf(text, sizeof(text), METRICS("listen = \"%s\";"), cases[i].text);
		conf = load_ok(text, &file);
		ck_assert_str_eq(conf->metrics.listen, cases[i].text);
		ck_assert_int_eq(conf->metrics.addr.ss_family, cases[i].family);
		if (cases[i].family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&conf->metrics.addr;

			ck_assert_uint_eq(conf->metrics.addr_len, sizeof(*a));
			inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
			ck_assert_int_eq(ntohs(a->sin_port), cases[i].port);
		} else {
			const struct sockaddr_in6 *a = (const void *)&conf->metrics.addr;

			ck_assert_uint_eq(conf->metrics.addr_len, sizeof(*a));
			inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof(addr));
			ck_assert_int_eq(ntohs(a->sin6_port), cases[i].port);
		}
		ck_assert_str_eq(addr, cases[i].address);
		conf_free(conf);
		unit_remove_temp(file);
	}
}
END_TEST

/* Consumer queues and retry tiers are read in order, with per-type defaults. */
START_TEST(test_queues_and_retry_read)
{
	char *file;
	struct zl_conf *conf = load_ok(
	    BASE
	    "amqp: {\n  queue_type = \"quorum\";\n  queues = (\n"
	    "    { name = \"openzaak\"; bindings = [ \"nl.overheid.zaken.#\" ]; type = \"quorum\"; "
	    "delivery_limit = 7; },\n"
	    "    { name = \"q2\"; bindings = [ \"a.*\", \"b.#\" ]; type = \"quorum\"; },\n"
	    "    { name = \"audit\"; bindings = [ \"#\" ]; }\n  );\n};\n"
	    "retry: {\n  delays = [ 1, 2 ];\n};\n",
	    &file);

	ck_assert_int_eq(conf->amqp.queue_type, ZL_QUEUE_QUORUM);
	ck_assert_int_eq(conf->amqp.n_queues, 3);
	ck_assert_str_eq(conf->amqp.queues[0].name, "openzaak");
	ck_assert_int_eq(conf->amqp.queues[0].type, ZL_QUEUE_QUORUM);
	ck_assert_int_eq(conf->amqp.queues[0].delivery_limit, 7);
	ck_assert_int_eq(conf->amqp.queues[0].n_bindings, 1);
	ck_assert_str_eq(conf->amqp.queues[0].bindings[0], "nl.overheid.zaken.#");
	ck_assert_int_eq(conf->amqp.queues[1].delivery_limit, 5);
	ck_assert_int_eq(conf->amqp.queues[1].n_bindings, 2);
	ck_assert_str_eq(conf->amqp.queues[1].bindings[1], "b.#");
	ck_assert_int_eq(conf->amqp.queues[2].type, ZL_QUEUE_CLASSIC);
	ck_assert_int_eq(conf->amqp.queues[2].delivery_limit, 0);
	ck_assert_int_eq(conf->retry.n_delays, 2);
	ck_assert_int_eq(conf->retry.delays[0], 1);
	ck_assert_int_eq(conf->retry.delays[1], 2);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* An empty retry.delays is allowed: every failure is parked at once. */
START_TEST(test_empty_retry_delays_park_at_once)
{
	char *file;
	struct zl_conf *conf = load_ok(RETRY("delays = [ ];"), &file);

	ck_assert_int_eq(conf->retry.n_delays, 0);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* The default state.path is used when the state group is left out. */
START_TEST(test_default_state_path)
{
	struct zl_err err = {0};
	char *file;
	struct zl_conf *conf = load_text(SRC EVENTS, &err, &file);

	if (access("/var/lib/zaaklink", W_OK | X_OK) == 0) {
		ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
		ck_assert_str_eq(conf->state.path, "/var/lib/zaaklink/state.db");
	} else {
		char expected[1024];

		/* A default has no line of its own. */
		ck_assert_ptr_null(conf);
		snprintf(expected, sizeof(expected),
		         "%s: state.path: directory /var/lib/zaaklink %s", file,
		         errno == ENOENT ? "does not exist" : "is not writable");
		ck_assert_msg(strncmp(err.msg, expected, strlen(expected)) == 0, "got '%s'",
		              err.msg);
	}
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_every_setting_read)
{
	char *file;
	struct zl_conf *conf =
	    load_ok("source: {\n"
	            "  conninfo = \"postgresql://zl@db/ok\";\n"
	            "  base_url = \"http://ok.example:8000/prefix\";\n"
	            "  poll_interval = 0.25;\n"
	            "  range_size = 16;\n"
	            "  connect_timeout = 3;\n"
	            "  query_timeout = 60;\n"
	            "  schema = \"Open \\\"Klant\\\" 012345678901234567890123456789"
	            "01234567890123456789\";\n"
	            "};\n"
	            "state: { path = \"/tmp/zl-other.db\"; };\n"
	            "events: {\n"
	            "  source = \"urn:other\";\n"
	            "  label_max_length = 0;\n"
	            "  relink_on_label_change = false;\n"
	            "  invalid_zaak_id = \"emit\";\n"
	            "  initial_sync = \"announce\";\n"
	            "};\n"
	            "amqp: {\n"
	            "  url = \"amqps://zl:" SECRET "@mq.example:5671/zaken\";\n"
	            "  exchange = \"other.events\";\n"
	            "  heartbeat = 0;\n"
	            "  batch_size = 65535;\n"
	            "  confirm_timeout = 2.5;\n"
	            "  connect_timeout = 1;\n"
	            "  max_backoff = 1;\n"
	            "  ca_file = \"/etc/passwd\";\n"
	            "  cert_file = \"/etc/passwd\";\n"
	            "  key_file = \"/etc/passwd\";\n"
	            "  verify_peer = false;\n"
	            "  verify_hostname = false;\n"
	            "};\n"
	            "log: { level = \"debug\"; };\n"
	            "metrics: { listen = \"[::1]:9187\"; };\n",
	            &file);

	ck_assert_str_eq(conf->source.conninfo, "postgresql://zl@db/ok");
	ck_assert_str_eq(conf->source.base_url, "http://ok.example:8000/prefix");
	ck_assert_double_eq(conf->source.poll_interval, 0.25);
	ck_assert_int_eq(conf->source.range_size, 16);
	ck_assert_int_eq(conf->source.connect_timeout, 3);
	ck_assert_int_eq(conf->source.query_timeout, 60);
	/* 63 bytes, quotes and blanks included: any name PostgreSQL keeps whole. */
	ck_assert_str_eq(conf->source.schema,
	                 "Open \"Klant\" 01234567890123456789012345678901234567890123456789");
	ck_assert_str_eq(conf->state.path, "/tmp/zl-other.db");
	ck_assert_str_eq(conf->events.source, "urn:other");
	ck_assert_int_eq(conf->events.label_max_length, 0);
	ck_assert(!conf->events.relink_on_label_change);
	ck_assert_int_eq(conf->events.invalid_zaak_id, ZL_INVALID_EMIT);
	ck_assert_int_eq(conf->events.initial_sync, ZL_INITIAL_ANNOUNCE);
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], "amqps://zl:" SECRET "@mq.example:5671/zaken");
	ck_assert_str_eq(conf->amqp.exchange, "other.events");
	ck_assert_int_eq(conf->amqp.heartbeat, 0);
	ck_assert_int_eq(conf->amqp.batch_size, 65535);
	ck_assert_double_eq(conf->amqp.confirm_timeout, 2.5);
	ck_assert_double_eq(conf->amqp.connect_timeout, 1.0);
	ck_assert_double_eq(conf->amqp.max_backoff, 1.0);
	ck_assert_str_eq(conf->amqp.ca_file, "/etc/passwd");
	ck_assert_str_eq(conf->amqp.cert_file, "/etc/passwd");
	ck_assert_str_eq(conf->amqp.key_file, "/etc/passwd");
	ck_assert(!conf->amqp.verify_peer);
	ck_assert(!conf->amqp.verify_hostname);
	ck_assert_int_eq(conf->log.level, ZL_LOG_DEBUG);
	ck_assert_str_eq(conf->metrics.listen, "[::1]:9187");
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

/* Every numeric setting at the lowest value it takes, then at the highest. */
#define BOUNDS(poll, range, sconn, query, label, hb, batch, confirm, aconn, backoff, limit, tier)  \
	"source: {\n  conninfo = \"host=db\";\n  base_url = \"https://ok.example\";\n"             \
	"  poll_interval = " poll ";\n  range_size = " range ";\n"                                 \
	"  connect_timeout = " sconn ";\n  query_timeout = " query ";\n};\n" STATE                 \
	"events: {\n  source = \"urn:test\";\n  label_max_length = " label ";\n};\n"               \
	"amqp: {\n  heartbeat = " hb ";\n  batch_size = " batch ";\n"                              \
	"  confirm_timeout = " confirm ";\n  connect_timeout = " aconn ";\n"                       \
	"  max_backoff = " backoff ";\n"                                                           \
	"  queues = ( { name = \"q\"; bindings = [ \"#\" ]; type = \"quorum\";"                    \
	" delivery_limit = " limit "; } );\n};\n"                                                  \
	"retry: { delays = [ " tier " ]; };\n"

START_TEST(test_lowest_values_accepted)
{
	char *file;
	struct zl_conf *conf = load_ok(
	    BOUNDS("0.1", "16", "1", "1", "0", "0", "1", "0.1", "0.1", "1", "1", "1"), &file);

	ck_assert_double_eq(conf->source.poll_interval, 0.1);
	ck_assert_int_eq(conf->source.range_size, 16);
	ck_assert_int_eq(conf->source.connect_timeout, 1);
	ck_assert_int_eq(conf->source.query_timeout, 1);
	ck_assert_int_eq(conf->events.label_max_length, 0);
	ck_assert_int_eq(conf->amqp.heartbeat, 0);
	ck_assert_int_eq(conf->amqp.batch_size, 1);
	ck_assert_double_eq(conf->amqp.confirm_timeout, 0.1);
	ck_assert_double_eq(conf->amqp.connect_timeout, 0.1);
	ck_assert_double_eq(conf->amqp.max_backoff, 1.0);
	ck_assert_int_eq(conf->amqp.queues[0].delivery_limit, 1);
	ck_assert_int_eq(conf->retry.delays[0], 1);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_highest_values_accepted)
{
	char *file;
	struct zl_conf *conf =
	    load_ok(BOUNDS("86400.0", "1048576", "86400", "86400", "10000", "600", "65535",
	                   "86400.0", "86400", "86400.0", "1000000", "2592000"),
	            &file);

	ck_assert_double_eq(conf->source.poll_interval, 86400.0);
	ck_assert_int_eq(conf->source.range_size, 1048576);
	ck_assert_int_eq(conf->source.connect_timeout, 86400);
	ck_assert_int_eq(conf->source.query_timeout, 86400);
	ck_assert_int_eq(conf->events.label_max_length, 10000);
	ck_assert_int_eq(conf->amqp.heartbeat, 600);
	ck_assert_int_eq(conf->amqp.batch_size, 65535);
	ck_assert_double_eq(conf->amqp.confirm_timeout, 86400.0);
	ck_assert_double_eq(conf->amqp.connect_timeout, 86400.0);
	ck_assert_double_eq(conf->amqp.max_backoff, 86400.0);
	ck_assert_int_eq(conf->amqp.queues[0].delivery_limit, 1000000);
	ck_assert_int_eq(conf->retry.delays[0], 2592000);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_integer_accepted_for_a_number)
{
	char *file;
	struct zl_conf *conf = load_ok(SRC_PLUS("poll_interval = 86400;"), &file);

	ck_assert_double_eq(conf->source.poll_interval, 86400.0);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_base_url_trailing_slashes_stripped)
{
	char *file;
	struct zl_conf *conf =
	    load_ok("source: {\n  conninfo = \"host=db\";\n"
	            "  base_url = \"https://ok.example/open-klant///\";\n};\n" STATE EVENTS,
	            &file);

	ck_assert_str_eq(conf->source.base_url, "https://ok.example/open-klant");
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_url_list_kept_in_order)
{
	static const char *const forms[] = {
	    AMQP("url = (\"amqp://a/%2f\", \"amqps://u:" SECRET "@b:5671/v\", \"amqp://c\");"),
	    AMQP("url = [\"amqp://a/%2f\", \"amqps://u:" SECRET "@b:5671/v\", \"amqp://c\"];"),
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(forms); i++) {
		char *file;
		struct zl_conf *conf = load_ok(forms[i], &file);

		ck_assert_int_eq(conf->amqp.n_urls, 3);
		ck_assert_str_eq(conf->amqp.urls[0], "amqp://a/%2f");
		ck_assert_str_eq(conf->amqp.urls[1], "amqps://u:" SECRET "@b:5671/v");
		ck_assert_str_eq(conf->amqp.urls[2], "amqp://c");
		conf_free(conf);
		unit_remove_temp(file);
	}
}
END_TEST

START_TEST(test_sixteen_urls_accepted)
{
	char *file;
	struct zl_conf *conf =
	    load_ok(AMQP("url = [\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", "
	                 "\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", "
	                 "\"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", \"amqp://a\", "
	                 "\"amqp://a\", \"amqp://b\"];"),
	            &file);

	ck_assert_int_eq(conf->amqp.n_urls, ZL_MAX_AMQP_URLS);
	ck_assert_str_eq(conf->amqp.urls[ZL_MAX_AMQP_URLS - 1], "amqp://b");
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_env_amqp_url_replaces_the_list)
{
	char *file;
	struct zl_conf *conf;

	setenv("ZAAKLINK_AMQP_URL", "amqps://env:" SECRET "@mq.env/%2f", 1);
	conf = load_ok(AMQP("url = [\"amqp://a\", \"amqp://b\"];"), &file);
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], "amqps://env:" SECRET "@mq.env/%2f");
	ck_assert_ptr_null(conf->amqp.urls[1]);
	conf_free(conf);
	unit_remove_temp(file);
	unsetenv("ZAAKLINK_AMQP_URL");
}
END_TEST

START_TEST(test_env_amqp_url_replaces_the_default)
{
	char *file;
	struct zl_conf *conf;

	setenv("ZAAKLINK_AMQP_URL", "amqp://mq.env", 1);
	conf = load_ok(BASE, &file);
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], "amqp://mq.env");
	conf_free(conf);
	unit_remove_temp(file);
	unsetenv("ZAAKLINK_AMQP_URL");
}
END_TEST

START_TEST(test_env_amqp_url_validated)
{
	setenv("ZAAKLINK_AMQP_URL", "http://env:" SECRET "@mq.env/", 1);
	assert_rejected(
	    "bad scheme in environment", BASE,
	    "ZAAKLINK_AMQP_URL: unsupported scheme 'http', expected amqp:// or amqps://");
	setenv("ZAAKLINK_AMQP_URL", "amqp://env:" SECRET "@mq.env:port/", 1);
	assert_rejected("bad URL in environment", BASE,
	                "ZAAKLINK_AMQP_URL: 'amqp://env:***@mq.env:port/' is not a valid AMQP URL, "
	                "expected amqp[s]://[user[:password]@]host[:port][/vhost]");
	setenv("ZAAKLINK_AMQP_URL", "", 1);
	assert_rejected("empty URL in environment", BASE, "ZAAKLINK_AMQP_URL: must not be empty");
	unsetenv("ZAAKLINK_AMQP_URL");
}
END_TEST

START_TEST(test_env_conninfo_replaces_the_file)
{
	char *file;
	struct zl_conf *conf;

	setenv("ZAAKLINK_SOURCE_CONNINFO", "host=env dbname=ok password=" SECRET, 1);
	conf = load_ok(BASE, &file);
	ck_assert_str_eq(conf->source.conninfo, "host=env dbname=ok password=" SECRET);
	conf_free(conf);
	unit_remove_temp(file);
	unsetenv("ZAAKLINK_SOURCE_CONNINFO");
}
END_TEST

/* state.conninfo puts the state in PostgreSQL, in schema zaaklink unless
 * state.schema says otherwise; the environment replaces it, and an
 * environment conninfo with a file's state.path is refused like the file's. */
START_TEST(test_state_conninfo_selects_postgresql)
{
	char *file;
	struct zl_conf *conf;
	struct zl_err err = {0};

	conf = load_ok(SRC "state: {\n  conninfo = \"host=statedb\";\n};\n" EVENTS, &file);
	ck_assert_str_eq(conf->state.conninfo, "host=statedb");
	ck_assert_str_eq(conf->state.schema, "zaaklink");
	conf_free(conf);
	unit_remove_temp(file);
	setenv("ZAAKLINK_STATE_CONNINFO", "postgresql://zl@env/state", 1);
	conf = load_ok(
	    SRC "state: {\n  conninfo = \"host=statedb\";\n  schema = \"zl_2\";\n};\n" EVENTS,
	    &file);
	ck_assert_str_eq(conf->state.conninfo, "postgresql://zl@env/state");
	ck_assert_str_eq(conf->state.schema, "zl_2");
	conf_free(conf);
	unit_remove_temp(file);
	conf = load_text(BASE, &err, &file);
	ck_assert_ptr_null(conf);
	ck_assert_ptr_nonnull(
	    strstr(err.msg, ":6: state: state.path and state.conninfo are both set"));
	ck_assert_int_eq(err.code, ZL_EX_CONFIG);
	unit_remove_temp(file);
	unsetenv("ZAAKLINK_STATE_CONNINFO");
}
END_TEST

/* With the conninfo in the environment, the file need not hold one. */
START_TEST(test_env_conninfo_makes_file_conninfo_optional)
{
	char *file;
	struct zl_conf *conf;

	setenv("ZAAKLINK_SOURCE_CONNINFO", "postgresql://zl@env/ok", 1);
	conf = load_ok("source: {\n  base_url = \"https://ok.example\";\n};\n" STATE EVENTS, &file);
	ck_assert_str_eq(conf->source.conninfo, "postgresql://zl@env/ok");
	conf_free(conf);
	unit_remove_temp(file);
	unsetenv("ZAAKLINK_SOURCE_CONNINFO");
}
END_TEST

START_TEST(test_env_conninfo_validated)
{
	setenv("ZAAKLINK_SOURCE_CONNINFO", "", 1);
	assert_rejected("empty conninfo in environment", BASE,
	                "ZAAKLINK_SOURCE_CONNINFO: must not be empty");
	setenv("ZAAKLINK_SOURCE_CONNINFO", "host=env password " SECRET, 1);
	assert_rejected("bad conninfo in environment", BASE,
	                "ZAAKLINK_SOURCE_CONNINFO: not a valid libpq connection string "
	                "(key=value pairs or a postgresql:// URI)");
	unsetenv("ZAAKLINK_SOURCE_CONNINFO");
}
END_TEST

/* A URL and its masked form. */
struct mask_case {
	const char *url;
	const char *masked;
};

START_TEST(test_mask_url)
{
	static const struct mask_case cases[] = {
	    {"amqp://guest:guest@127.0.0.1:5672/%2f", "amqp://guest:***@127.0.0.1:5672/%2f"},
	    {"amqps://zl:" SECRET "@mq.example/zaken", "amqps://zl:***@mq.example/zaken"},
	    {"amqp://zl@mq.example/", "amqp://zl@mq.example/"},
	    {"amqp://mq.example:5672/", "amqp://mq.example:5672/"},
	    {"amqp://", "amqp://"},
	    {"amqp://zl:@mq", "amqp://zl:***@mq"},
	    /* Unencoded '@' or '/' in the password must not leak a part of it. */
	    {"amqp://zl:s3@cret@mq/v", "amqp://zl:***@mq/v"},
	    {"amqp://zl:s3/cret@mq/v", "amqp://zl:***@mq/v"},
	    /* An '@' inside an IPv6 host is the host's. */
	    {"amqp://zl:pw@[::1]:5672/v", "amqp://zl:***@[::1]:5672/v"},
	    {"amqp://u:p%40ss@[@a;\n ::1]:5672/%2f", "amqp://u:***@[@a;\n ::1]:5672/%2f"},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		char *m = conf_mask_url(cases[i].url);

		ck_assert_ptr_nonnull(m);
		ck_assert_str_eq(m, cases[i].masked);
		free(m);
	}
}
END_TEST

START_TEST(test_mask_conninfo)
{
	static const struct mask_case cases[] = {
	    {"host=db port=5433 dbname=ok user=zl password=" SECRET " sslmode=require",
	     "host=db port=5433 dbname=ok user=zl"},
	    {"password=" SECRET " user=zl host=db", "host=db user=zl"},
	    {"postgresql://zl:" SECRET "@db:5433/ok?sslmode=require",
	     "host=db port=5433 dbname=ok user=zl"},
	    {"dbname=ok", "dbname=ok"},
	    {"dbname='my db' user=zl", "dbname='my db' user=zl"},
	    {"host=db password", "(unparsable conninfo)"},
	    /* libpq ends an unquoted value at any white space, \v and \f too. */
	    {"postgresql://zl@db%0Bx/ok%0Cy", "host='db\vx' dbname='ok\fy' user=zl"},
	    {"dbname='a\\\\b' user='it\\'s'", "dbname='a\\\\b' user='it\\'s'"},
	    {"postgresql://zl:" SECRET "@db/ok?nonsense=1", "(unparsable conninfo)"},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		char *m = conf_mask_conninfo(cases[i].url);

		ck_assert_ptr_nonnull(m);
		ck_assert_str_eq(m, cases[i].masked);
		ck_assert_ptr_null(strstr(m, SECRET));
		free(m);
	}
}
END_TEST

START_TEST(test_conf_free_null)
{
	conf_free(NULL);
}
END_TEST

static char *read_all(const char *path);

/* A password file holding content (len bytes), and a file that names it. */
static struct zl_conf *load_password_file(const char *content, size_t len, struct zl_err *err,
                                          char **pwfile, char **file)
{
	char text[1024];
	int fd;

	*pwfile = strdup("/tmp/zl-test-pw-XXXXXX");
	ck_assert_ptr_nonnull(*pwfile);
	fd = mkstemp(*pwfile);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	snprintf(text, sizeof(text), AMQP("password_file = \"%s\";"), *pwfile);
	return load_text(text, err, file);
}

START_TEST(test_password_file_read)
{
	static const struct {
		const char *content;
		const char *password;
	} cases[] = {
	    {SECRET "\n", SECRET},
	    {SECRET, SECRET},
	    {SECRET "\r\n", SECRET},
	    {" " SECRET " \n", " " SECRET " "},
	    {"\xc3\xa9t\xc3\xa9\n", "\xc3\xa9t\xc3\xa9"},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		struct zl_err err = {0};
		char *pw, *file;
		struct zl_conf *conf = load_password_file(
		    cases[i].content, strlen(cases[i].content), &err, &pw, &file);

		ck_assert_msg(conf != NULL, "case %zu rejected: %s", i, err.msg);
		ck_assert_str_eq(conf->amqp.password, cases[i].password);
		ck_assert_str_eq(conf->amqp.password_file, pw);
		conf_free(conf);
		unit_remove_temp(pw);
		unit_remove_temp(file);
	}
}
END_TEST

START_TEST(test_password_file_refused)
{
	static const struct {
		const char *content;
		size_t len;
		const char *why;
	} cases[] = {
	    {"", 0, "is empty"},
	    {"\n", 1, "is empty"},
	    {"\r\n", 2, "is empty"},
	    {SECRET "\n\n", 8, "has more than one line, expected the password alone"},
	    {"zaaklink\n" SECRET "\n", 16, "has more than one line, expected the password alone"},
	    {"s3\0cret\n", 8, "has a NUL byte, which no AMQP password can hold"},
	};
	char big[5000];

	for (size_t i = 0; i <= ZL_ARRAY_LEN(cases); i++) {
		struct zl_err err = {0};
		char expected[1024], *pw, *file;
		struct zl_conf *conf;

		if (i < ZL_ARRAY_LEN(cases)) {
			conf = load_password_file(cases[i].content, cases[i].len, &err, &pw, &file);
		} else {
			memset(big, 'x', sizeof(big));
			conf = load_password_file(big, 4097, &err, &pw, &file);
		}
		snprintf(expected, sizeof(expected), "%s:12: amqp.password_file: %s %s", file, pw,
		         i < ZL_ARRAY_LEN(cases)
		             ? cases[i].why
		             : "is larger than 4096 bytes, expected one password");
		ck_assert_msg(conf == NULL, "case %zu accepted", i);
		ck_assert_str_eq(err.msg, expected);
		ck_assert_int_eq(err.code, ZL_EX_CONFIG);
		ck_assert_ptr_null(strstr(err.msg, SECRET));
		unit_remove_temp(pw);
		unit_remove_temp(file);
	}
}
END_TEST

/* 4096 bytes is the most a password file may hold. */
START_TEST(test_password_file_longest)
{
	struct zl_err err = {0};
	char big[4097], *pw, *file;
	struct zl_conf *conf;

	memset(big, 'x', sizeof(big));
	big[4096] = '\n';
	conf = load_password_file(big, sizeof(big), &err, &pw, &file);
	ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
	ck_assert_uint_eq(strlen(conf->amqp.password), 4096);
	conf_free(conf);
	unit_remove_temp(pw);
	unit_remove_temp(file);
}
END_TEST

/* A relative name is a systemd credential: read under $CREDENTIALS_DIRECTORY. */
START_TEST(test_password_file_relative_under_credentials_directory)
{
	char dir[] = "/tmp/zl-test-creds-XXXXXX", path[512];
	struct zl_conf *conf;
	char *file;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/amqp.password", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(SECRET "\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	conf = load_ok(AMQP("password_file = \"amqp.password\";"), &file);
	ck_assert_str_eq(conf->amqp.password, SECRET);
	ck_assert_str_eq(conf->amqp.password_file, "amqp.password");
	conf_free(conf);
	unit_remove_temp(file);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_no_password_file_no_password)
{
	char *file;
	struct zl_conf *conf = load_ok(BASE, &file);

	ck_assert_ptr_null(conf->amqp.password_file);
	ck_assert_ptr_null(conf->amqp.password);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_url_has_password)
{
	static const struct {
		const char *url;
		bool has;
	} cases[] = {
	    {"amqp://guest:guest@127.0.0.1:5672/%2f", true},
	    {"amqps://zl:" SECRET "@mq.example/zaken", true},
	    {"amqp://zl:@mq", true}, /* an empty password is the URL's own */
	    {"amqp://:" SECRET "@mq", true},
	    {"amqp://zl@mq.example/", false},
	    {"amqp://mq.example:5672/", false},
	    {"amqps://@mq.example/%2f", false},
	    {"amqp://mq.example/v@host", false},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++)
		ck_assert_msg(conf_url_has_password(cases[i].url) == cases[i].has,
		              "%s: expected %d", cases[i].url, cases[i].has);
}
END_TEST

START_TEST(test_env_amqp_url_list)
{
	char *file;
	struct zl_conf *conf;

	setenv("ZAAKLINK_AMQP_URL", " amqp://a:" SECRET "@mq1/%2f  amqps://mq2\tamqp://mq3\n", 1);
	conf =
	    load_ok(AMQP("url = [\"amqp://x\", \"amqp://y\", \"amqp://z\", \"amqp://w\"];"), &file);
	ck_assert_int_eq(conf->amqp.n_urls, 3);
	ck_assert_str_eq(conf->amqp.urls[0], "amqp://a:" SECRET "@mq1/%2f");
	ck_assert_str_eq(conf->amqp.urls[1], "amqps://mq2");
	ck_assert_str_eq(conf->amqp.urls[2], "amqp://mq3");
	ck_assert_ptr_null(conf->amqp.urls[3]);
	conf_free(conf);
	unit_remove_temp(file);
}
END_TEST

START_TEST(test_env_amqp_url_list_validated)
{
	setenv("ZAAKLINK_AMQP_URL", "amqp://a http://b:" SECRET "@mq/", 1);
	assert_rejected("bad second URL in environment", BASE,
	                "ZAAKLINK_AMQP_URL (URL 2): unsupported scheme 'http', expected amqp:// "
	                "or amqps://");
	setenv("ZAAKLINK_AMQP_URL", " \t\n", 1);
	assert_rejected("blank environment", BASE, "ZAAKLINK_AMQP_URL: must not be empty");
	setenv("ZAAKLINK_AMQP_URL",
	       "amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a "
	       "amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a amqp://a",
	       1);
	assert_rejected("17 URLs in environment", BASE, "ZAAKLINK_AMQP_URL: more than 16 URLs");
}
END_TEST

/* Loads text from a file of the given mode; returns what conf_load() logged. */
static char *load_logged(const char *text, mode_t mode, char **file)
{
	char *log = strdup("/tmp/zl-test-log-XXXXXX"), *out;
	struct zl_err err = {0};
	struct zl_conf *conf;
	int fd, saved;

	ck_assert_ptr_nonnull(log);
	ck_assert_int_ge(fd = mkstemp(log), 0);
	*file = unit_write_temp("conf", text);
	ck_assert_int_eq(chmod(*file, mode), 0);
	zl_log_set_level(ZL_LOG_WARNING);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	dup2(fd, STDERR_FILENO);
	conf = conf_load(*file, &err);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	zl_log_set_level(ZL_LOG_ERROR);
	close(saved);
	close(fd);
	ck_assert_msg(conf != NULL, "rejected: %s", err.msg);
	conf_free(conf);
	out = read_all(log);
	unit_remove_temp(log);
	return out;
}

/* BASE with a conninfo and a URL of no password (line 2 and line 12). */
#define NO_SECRET(url)                                                                             \
	"source: {\n  conninfo = \"host=db user=zl\";\n  base_url = "                              \
	"\"https://ok.example\";\n};\n" STATE EVENTS "amqp: {\n  url = \"" url "\";\n};\n"

START_TEST(test_readable_password_warned)
{
	static const struct {
		const char *text;
		mode_t mode;
		const char *logged; /* "@F@" the file; NULL: nothing */
	} cases[] = {
	    {BASE, 0644,
	     "msg=config.password_readable file=\"@F@\" mode=0644 settings=source.conninfo "
	     "reason=\"a file holding a password is readable by others\""},
	    {BASE, 0640,
	     "msg=config.password_readable file=\"@F@\" mode=0640 settings=source.conninfo "
	     "reason=\"a file holding a password is readable by its group\""},
	    {BASE, 0604, "mode=0604 settings=source.conninfo "},
	    {BASE, 0600, NULL},
	    {BASE, 0400, NULL},
	    {NO_SECRET("amqp://zl:" SECRET "@mq/"), 0644, "mode=0644 settings=amqp.url "},
	    {SRC STATE EVENTS "amqp: {\n  url = [\"amqp://mq1\", \"amqp://zl:" SECRET
	                      "@mq2\"];\n};\n",
	     0644, "mode=0644 settings=amqp.url,source.conninfo "},
	    {NO_SECRET("amqp://zl@mq/"), 0644, NULL},
	    {NO_SECRET("amqp://mq/"), 0666, NULL},
	};

	for (size_t i = 0; i < ZL_ARRAY_LEN(cases); i++) {
		char expected[1024], *file, *logged;

		logged = load_logged(cases[i].text, cases[i].mode, &file);
		if (!cases[i].logged) {
			ck_assert_msg(strstr(logged, "config.password_readable") == NULL,
			              "case %zu warned: %s", i, logged);
		} else {
			expand(cases[i].logged, file, expected, sizeof(expected));
			ck_assert_msg(strstr(logged, expected) != NULL,
			              "case %zu: '%s' not in '%s'", i, expected, logged);
			ck_assert_msg(strstr(logged, "level=warning ") != NULL, "case %zu: %s", i,
			              logged);
			ck_assert_ptr_eq(strchr(logged, '\n'), logged + strlen(logged) - 1);
		}
		ck_assert_ptr_null(strstr(logged, SECRET));
		free(logged);
		unit_remove_temp(file);
	}
}
END_TEST

/* The warning names the file that holds the password, an @include too. */
START_TEST(test_readable_password_in_include_warned)
{
	char *inner =
	    unit_write_temp("conf", "source: {\n  conninfo = \"host=db password=" SECRET "\";\n"
	                            "  base_url = \"https://ok.example\";\n};\n");
	char text[512], expected[512], *file, *logged;

	ck_assert_int_eq(chmod(inner, 0644), 0);
	snprintf(text, sizeof(text), "@include \"%s\"\n" STATE EVENTS, inner);
	logged = load_logged(text, 0600, &file);
	snprintf(expected, sizeof(expected), "file=\"%s\" mode=0644 settings=source.conninfo ",
	         inner);
	ck_assert_msg(strstr(logged, expected) != NULL, "'%s' not in '%s'", expected, logged);
	ck_assert_ptr_null(strstr(logged, file));
	free(logged);
	unit_remove_temp(file);
	unit_remove_temp(inner);
}
END_TEST

/* A password file others can read is warned about; one its group can read is not. */
START_TEST(test_readable_password_file_warned)
{
	char text[512], *pw = unit_write_temp("conf", SECRET "\n"), *file, *logged;

	snprintf(
	    text, sizeof(text),
	    "source: {\n  conninfo = \"host=db\";\n  base_url = \"https://ok.example\";\n};\n" STATE
	        EVENTS "amqp: {\n  password_file = \"%s\";\n};\n",
	    pw);
	ck_assert_int_eq(chmod(pw, 0644), 0);
	logged = load_logged(text, 0644, &file);
	ck_assert_msg(strstr(logged, "settings=amqp.password_file ") != NULL, "%s", logged);
	ck_assert_msg(strstr(logged, pw) != NULL, "%s", logged);
	free(logged);
	unit_remove_temp(file);
	ck_assert_int_eq(chmod(pw, 0640), 0);
	logged = load_logged(text, 0644, &file);
	ck_assert_str_eq(logged, "");
	free(logged);
	unit_remove_temp(file);
	unit_remove_temp(pw);
}
END_TEST

/* Reads a whole file into a malloc'ed string. */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	ck_assert_msg(f != NULL, "could not open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

/* conf/zaaklink.conf loads and shows exactly the defaults (its state.path moved to /tmp). */
START_TEST(test_example_config_shows_the_defaults)
{
	static const char state_line[] = "path = \"/var/lib/zaaklink/state.db\";";
	char path[1024];
	char *text, *at, *moved, *file;
	struct zl_conf *conf;

	unit_source_dir(path, sizeof(path));
	strncat(path, "/conf/zaaklink.conf", sizeof(path) - strlen(path) - 1);
	text = read_all(path);
	at = strstr(text, state_line);
	ck_assert_msg(at != NULL, "no default state.path line in %s", path);
	moved = malloc(strlen(text) + 64);
	ck_assert_ptr_nonnull(moved);
	sprintf(moved, "%.*spath = \"%s\";%s", (int)(at - text), text, STATE_DB,
	        at + strlen(state_line));
	conf = load_ok(moved, &file);
	ck_assert_str_eq(conf->source.conninfo,
	                 "host=127.0.0.1 port=5432 dbname=openklant user=zaaklink");
	ck_assert_str_eq(conf->source.base_url, "https://openklant.example.nl");
	ck_assert_double_eq(conf->source.poll_interval, 5.0);
	ck_assert_int_eq(conf->source.range_size, 1024);
	ck_assert_int_eq(conf->source.connect_timeout, 10);
	ck_assert_int_eq(conf->source.query_timeout, 300);
	ck_assert_str_eq(conf->source.schema, "public");
	ck_assert_str_eq(conf->events.source, "urn:nld:oin:01823288444:openklant");
	ck_assert_int_eq(conf->events.label_max_length, 80);
	ck_assert(conf->events.relink_on_label_change);
	ck_assert_int_eq(conf->events.invalid_zaak_id, ZL_INVALID_SKIP);
	ck_assert_int_eq(conf->events.initial_sync, ZL_INITIAL_BASELINE);
	ck_assert_int_eq(conf->amqp.n_urls, 1);
	ck_assert_str_eq(conf->amqp.urls[0], "amqp://guest:guest@127.0.0.1:5672/%2f");
	ck_assert_str_eq(conf->amqp.exchange, "zaaklink.events");
	ck_assert_int_eq(conf->amqp.heartbeat, 30);
	ck_assert_int_eq(conf->amqp.batch_size, 1000);
	ck_assert_double_eq(conf->amqp.confirm_timeout, 30.0);
	ck_assert_double_eq(conf->amqp.connect_timeout, 10.0);
	ck_assert_double_eq(conf->amqp.max_backoff, 60.0);
	ck_assert_ptr_null(conf->amqp.ca_file);
	ck_assert(conf->amqp.verify_peer);
	ck_assert(conf->amqp.verify_hostname);
	ck_assert_int_eq(conf->amqp.n_queues, 0);
	ck_assert_int_eq(conf->retry.n_delays, 5);
	ck_assert_int_eq(conf->retry.delays[0], 10);
	ck_assert_int_eq(conf->retry.delays[4], 7200);
	ck_assert_int_eq(conf->log.level, ZL_LOG_INFO);
	ck_assert_ptr_null(conf->metrics.listen);
	ck_assert_ptr_nonnull(strstr(text, "\n  # listen = \"127.0.0.1:9187\";\n"));
	conf_free(conf);
	unit_remove_temp(file);
	free(moved);
	free(text);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *bad = tcase_create("rejected");
	TCase *good = tcase_create("accepted");
	TCase *env = tcase_create("environment");
	TCase *mask = tcase_create("masking");

	tcase_add_checked_fixture(bad, unit_clear_environment, NULL);
	tcase_add_loop_test(bad, test_bad_config_rejected_with_file_line_message, 0,
	                    (int)ZL_ARRAY_LEN(bad_cases));
	tcase_add_test(bad, test_missing_file);
	tcase_add_test(bad, test_nested_include_of_a_directory);
	tcase_add_test(bad, test_file_is_a_directory);
	tcase_add_test(bad, test_state_directory_not_writable_for_user);
	tcase_add_test(bad, test_state_file_must_be_readable_and_writable);
	suite_add_tcase(s, bad);

	tcase_add_checked_fixture(good, unit_clear_environment, NULL);
	tcase_add_test(good, test_defaults);
	tcase_add_test(good, test_queues_and_retry_read);
	tcase_add_test(good, test_metrics_listen_parsed);
	tcase_add_test(good, test_empty_retry_delays_park_at_once);
	tcase_add_test(good, test_default_state_path);
	tcase_add_test(good, test_every_setting_read);
	tcase_add_test(good, test_integer_accepted_for_a_number);
	tcase_add_test(good, test_lowest_values_accepted);
	tcase_add_test(good, test_highest_values_accepted);
	tcase_add_test(good, test_base_url_trailing_slashes_stripped);
	tcase_add_test(good, test_url_list_kept_in_order);
	tcase_add_test(good, test_sixteen_urls_accepted);
	tcase_add_test(good, test_example_config_shows_the_defaults);
	tcase_add_test(good, test_conf_free_null);
	tcase_add_test(good, test_password_file_read);
	tcase_add_test(good, test_password_file_refused);
	tcase_add_test(good, test_password_file_longest);
	tcase_add_test(good, test_password_file_relative_under_credentials_directory);
	tcase_add_test(good, test_no_password_file_no_password);
	tcase_add_test(good, test_url_has_password);
	tcase_add_test(good, test_readable_password_warned);
	tcase_add_test(good, test_readable_password_in_include_warned);
	tcase_add_test(good, test_readable_password_file_warned);
	suite_add_tcase(s, good);

	tcase_add_checked_fixture(env, unit_clear_environment, unit_clear_environment);
	tcase_add_test(env, test_env_amqp_url_replaces_the_list);
	tcase_add_test(env, test_env_amqp_url_replaces_the_default);
	tcase_add_test(env, test_env_amqp_url_validated);
	tcase_add_test(env, test_env_amqp_url_list);
	tcase_add_test(env, test_env_amqp_url_list_validated);
	tcase_add_test(env, test_env_conninfo_replaces_the_file);
	tcase_add_test(env, test_env_conninfo_makes_file_conninfo_optional);
	tcase_add_test(env, test_state_conninfo_selects_postgresql);
	tcase_add_test(env, test_env_conninfo_validated);
	suite_add_tcase(s, env);

	tcase_add_test(mask, test_mask_url);
	tcase_add_test(mask, test_mask_conninfo);
	suite_add_tcase(s, mask);
	return s;
}

ZL_UNIT_MAIN(conf_suite)
