# The oracle of tests/faults/crash.sh: do the events received follow from the
# history of the rows? Input: none (-n); $h: the history (one state of a row
# per entry, in the order the test wrote them), $m: the drained messages,
# $base: the linkTo prefix. Prints one line per onderwerpobject whose events
# do not follow (at most 10), nothing when all do.
def lbl($s):
	(if ($s.nummer == null or $s.nummer == "") then $s.onderwerp
	 else $s.onderwerp + " - (" + $s.nummer + ")" end) | .[0:80];
def payload($s):
	{zaak: ("urn:uuid:" + $s.zaak), linkTo: ($base + $s.uuid), label: lbl($s),
	 linkObjectType: "Onderwerpobject"};
def state($s): if $s.link then payload($s) else null end;
# Every state a row had, in order, per linkTo.
($h | to_entries | map({key: ($base + .value.uuid), n: .key, value: state(.value)})
    | group_by(.key) | map({key: .[0].key, value: (sort_by(.n) | map(.value))})
    | from_entries) as $hist
# The distinct events per linkTo, in the order they first arrived.
| ($m | to_entries | map({n: .key, e: (.value.body | fromjson)})
    | group_by(.e.id) | map(min_by(.n))
    | group_by(.e.data.linkTo)
    | map({key: .[0].e.data.linkTo, value: (sort_by(.n) | map(.e))}) | from_entries) as $ev
| [($hist | keys[]), ($ev | keys[])] | unique
| map(. as $k
    | ($hist[$k] // []) as $states
    | reduce ($ev[$k] // [])[] as $e ({pos: 0, cur: null, err: null};
	if .err then .
	elif ($e.type | endswith("zaak-gekoppeld")) then
		if .cur != null then .err = "gekoppeld \($e.id) while still linked"
		else ([range(.pos; $states | length) | select($states[.] == $e.data)] | first) as $j
		| if $j == null then .err = "gekoppeld \($e.id) matches no later state of the row"
		  else .pos = $j | .cur = $e.data end
		end
	else
		if .cur == null then .err = "ontkoppeld \($e.id) while not linked"
		elif $e.data != .cur then .err = "ontkoppeld \($e.id) differs from its gekoppeld"
		else (.cur as $c | [range(.pos + 1; $states | length) | select($states[.] != $c)]
		      | first) as $j
		| if $j == null then .err = "ontkoppeld \($e.id) without a later change of the row"
		  else .pos = $j | .cur = null end
		end
	end)
    | if .err then "\($k): \(.err)"
      elif .cur != ($states | last) then "\($k): the last state is not what was published (missing events)"
      else empty end)
| .[0:10] | .[]
