package authn

// Password validators: Django's AUTH_PASSWORD_VALIDATORS
// (django/contrib/auth/password_validation.py), ported from Django 6.x with
// the same algorithms, the same order and the same English messages.
//
// Python semantics matter here and are reproduced exactly:
//   - lengths are counted in code points (Python's len(str));
//   - str.lower() is Unicode full lower-casing: "İ" becomes "i̇" (two code
//     points) and a capital sigma becomes "ς" in Final_Sigma context, which
//     Go's strings.ToLower does not do (see pyLower);
//   - str.strip() strips Python's whitespace, which includes U+001C–U+001F
//     unlike Go's unicode.IsSpace (see pyIsSpace);
//   - str.isdigit() is true for Numeric_Type=Digit too (superscripts,
//     circled digits…), not only for decimal digits (see pyIsDigit);
//   - re's \W is Unicode-aware: a word character is a letter (L*), a number
//     (N*) or "_"; combining marks are not word characters (see pyIsWord).
//
// Differences between Django versions, for the record (the code below
// follows Django 6.x):
//   - Django ≤ 3.2.10 lower-cased each attribute part after re.split and had
//     no length-ratio shortcut; the fix for CVE-2021-45115 (3.2.11, 4.0.1)
//     lower-cases the password and the whole attribute value first, splits
//     afterwards, and skips parts for which exceeds_maximum_length_ratio
//     holds. Debian's 3.2.25 already carries that fix, so its results equal
//     6.x's; testdata/gen_validator_vectors.py checks that on every case.
//   - Django 5.0 moved the messages into get_error_message() and formats the
//     too-short message with %d instead of %(min_length)d: same text.
//   - Django 4.2 replaced the common-password list (another of Royce
//     Williams' top-20,000 lists), and a later release un-hexed its
//     "$HEX[...]" entries (ticket #36179). Neither list is reachable from
//     our build machines, so ours (below) starts from the 3.2 list.
//
// The common-password list, common-passwords.txt.gz, is built by
// testdata/build_common_passwords.py: Django 3.2's own list (19,727
// passwords; BSD 3-Clause, Django Software Foundation) first, topped up to
// 20,000 with the most frequent passwords of the npm package zxcvbn 4.4.2
// (MIT, Dan Wheeler and Dropbox, Inc.), all lower-cased, stripped and
// de-duplicated. It is embedded gzipped (80 KiB) and loaded on first use,
// once: about 5 ms and 1 MiB of live heap on a 2-core machine (see
// TestCommonPasswordsMemory and BenchmarkCommonPasswordsLoad).

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/config"
)

// PasswordError is a password that fails validation: every failing rule's
// message, in the configured order, worded as Django words them.
type PasswordError struct {
	Messages []string
}

func (e *PasswordError) Error() string { return strings.Join(e.Messages, " ") }

// Validators is a configured list of password validators. It is safe for
// concurrent use.
type Validators struct {
	rules []passwordRule
}

type ruleKind uint8

const (
	ruleSimilarity ruleKind = iota + 1
	ruleMinLength
	ruleCommon
	ruleNumeric
)

type passwordRule struct {
	kind ruleKind
	// ruleMinLength
	minLength int
	tooShort  string // the message, formatted once
	// ruleSimilarity
	maxSimilarity float64
	attributes    []userAttribute
}

type userAttribute struct {
	get           func(*User) string
	tooSimilarMsg string // "The password is too similar to the <verbose name>."
}

// Django's messages and help texts (English, as in Django 6.x).
const (
	msgTooCommon       = "This password is too common."
	msgEntirelyNumeric = "This password is entirely numeric."
	helpSimilarity     = "Your password can’t be too similar to your other personal information."
	helpCommon         = "Your password can’t be a commonly used password."
	helpNumeric        = "Your password can’t be entirely numeric."
)

// userAttributes are the attributes UserAttributeSimilarityValidator can
// compare with, by Django's field name, with Django's verbose names.
var userAttributes = map[string]struct {
	verbose string
	get     func(*User) string
}{
	"username":   {"username", func(u *User) string { return u.Username }},
	"first_name": {"first name", func(u *User) string { return u.FirstName }},
	"last_name":  {"last name", func(u *User) string { return u.LastName }},
	"email":      {"email address", func(u *User) string { return u.Email }},
}

// NewValidators builds the validators of AUTH_PASSWORD_VALIDATORS in the
// given order. Zero options take Django's defaults (min_length 8,
// max_similarity 0.7, user_attributes username, first_name, last_name,
// email), as config does; an empty cfg validates nothing, as an empty
// AUTH_PASSWORD_VALIDATORS does. The common-password list is loaded on
// first use, not here.
func NewValidators(cfg []config.PasswordValidator) (*Validators, error) {
	v := &Validators{rules: make([]passwordRule, 0, len(cfg))}
	for i, pv := range cfg {
		var r passwordRule
		switch pv.Name {
		case config.ValidatorMinimumLength:
			n := pv.MinLength
			if n == 0 {
				n = config.DefaultMinLength
			}
			if n < 0 {
				return nil, fmt.Errorf("password validator %d (%s): min_length must not be negative, got %d", i, pv.Name, n)
			}
			r = passwordRule{kind: ruleMinLength, minLength: n, tooShort: minLengthMessage(n)}
		case config.ValidatorUserAttributeSimilarity:
			ms := pv.MaxSimilarity
			if ms == 0 {
				ms = config.DefaultMaxSimilarity
			}
			if ms < 0.1 || math.IsNaN(ms) {
				// Django: ValueError("max_similarity must be at least 0.1").
				return nil, fmt.Errorf("password validator %d (%s): max_similarity must be at least 0.1, got %g", i, pv.Name, ms)
			}
			names := pv.UserAttributes
			if len(names) == 0 {
				names = config.DefaultUserAttributes
			}
			r = passwordRule{kind: ruleSimilarity, maxSimilarity: ms}
			for _, name := range names {
				a, ok := userAttributes[name]
				if !ok {
					return nil, fmt.Errorf("password validator %d (%s): unknown user attribute %q", i, pv.Name, name)
				}
				r.attributes = append(r.attributes, userAttribute{get: a.get, tooSimilarMsg: "The password is too similar to the " + a.verbose + "."})
			}
		case config.ValidatorCommonPassword:
			r = passwordRule{kind: ruleCommon}
		case config.ValidatorNumericPassword:
			r = passwordRule{kind: ruleNumeric}
		default:
			return nil, fmt.Errorf("password validator %d: unknown validator %q", i, pv.Name)
		}
		v.rules = append(v.rules, r)
	}
	return v, nil
}

// minLengthMessage is Django's ngettext(singular, plural, n) % n; English
// uses the singular for n == 1 only.
func minLengthMessage(n int) string {
	if n == 1 {
		return "This password is too short. It must contain at least 1 character."
	}
	return fmt.Sprintf("This password is too short. It must contain at least %d characters.", n)
}

// Validate is Django's validate_password(password, user): nil when every
// validator passes, otherwise a *PasswordError listing every failing
// validator's message in order. A nil user skips the similarity check, as
// in Django. The only other error is a broken embedded common-password
// list, which tests rule out.
func (v *Validators) Validate(password string, u *User) error {
	if v == nil {
		return nil
	}
	var msgs []string
	lower, lowered := "", false
	pwLower := func() string {
		if !lowered {
			lower, lowered = pyLower(password), true
		}
		return lower
	}
	for i := range v.rules {
		r := &v.rules[i]
		switch r.kind {
		case ruleMinLength:
			if utf8.RuneCountInString(password) < r.minLength {
				msgs = append(msgs, r.tooShort)
			}
		case ruleSimilarity:
			if u != nil {
				if msg := r.similarity(pwLower(), u); msg != "" {
					msgs = append(msgs, msg)
				}
			}
		case ruleCommon:
			set, err := commonPasswords()
			if err != nil {
				return err
			}
			if _, ok := set[pyStrip(pwLower())]; ok {
				msgs = append(msgs, msgTooCommon)
			}
		case ruleNumeric:
			if pyIsDigitString(password) {
				msgs = append(msgs, msgEntirelyNumeric)
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &PasswordError{Messages: msgs}
}

// similarity is UserAttributeSimilarityValidator.validate for a password
// already lower-cased: the message for the first attribute (in configured
// order) the password is too similar to, or "".
func (r *passwordRule) similarity(password string, u *User) string {
	var qr ratioScratch
	qr.setA(password)
	for _, a := range r.attributes {
		value := a.get(u)
		if value == "" {
			continue
		}
		value = pyLower(value)
		similar := false
		// re.split(r"\W+", value) + [value]
		forEachWordPart(value, func(part string) bool {
			similar = r.tooSimilar(&qr, part)
			return !similar
		})
		if similar || r.tooSimilar(&qr, value) {
			return a.tooSimilarMsg
		}
	}
	return ""
}

func (r *passwordRule) tooSimilar(qr *ratioScratch, part string) bool {
	if exceedsMaximumLengthRatio(qr.lenA, r.maxSimilarity, utf8.RuneCountInString(part)) {
		return false
	}
	return qr.quickRatio(part) >= r.maxSimilarity
}

// exceedsMaximumLengthRatio is Django's exceeds_maximum_length_ratio
// (CVE-2021-45115): a value at most a tenth of the password's length, and
// shorter than max_similarity/2 of it, cannot reach max_similarity, so
// quick_ratio is skipped. Same float operations, in the same order.
func exceedsMaximumLengthRatio(pwdLen int, maxSimilarity float64, valueLen int) bool {
	lengthBoundSimilarity := maxSimilarity / 2 * float64(pwdLen)
	return pwdLen >= 10*valueLen && float64(valueLen) < lengthBoundSimilarity
}

// quickRatio is difflib.SequenceMatcher(a=a, b=b).quick_ratio(): a and b
// as multisets of code points, M the size of their intersection, T the sum
// of their lengths, 2*M/T (1.0 when both are empty). difflib counts M by
// walking a against b's counts; counting b against a's gives the same M,
// and lets the similarity check count the password once for all parts.
func quickRatio(a, b string) float64 {
	var qr ratioScratch
	qr.setA(a)
	return qr.quickRatio(b)
}

// ratioScratch holds a's counts for quick ratios of one a with many b.
type ratioScratch struct {
	a, used runeCounts
	lenA    int
}

func (q *ratioScratch) setA(a string) {
	for _, c := range a {
		q.a.add(c)
		q.lenA++
	}
}

func (q *ratioScratch) quickRatio(b string) float64 {
	lenB, matches := 0, 0
	for _, c := range b {
		lenB++
		if q.used.add(c) <= q.a.get(c) {
			matches++
		}
	}
	q.used.reset(b)
	if q.lenA+lenB == 0 {
		return 1.0
	}
	return 2.0 * float64(matches) / float64(q.lenA+lenB)
}

// runeCounts is a multiset of code points that stays on the stack for
// ASCII and for up to len(few) distinct other code points, the usual
// attribute value; a map takes the rest.
type runeCounts struct {
	ascii [utf8.RuneSelf]int32
	few   [24]struct {
		r rune
		n int32
	}
	nFew int
	many map[rune]int32
}

// add adds one c and returns how many c there are now.
func (m *runeCounts) add(c rune) int32 {
	if c < utf8.RuneSelf {
		m.ascii[c]++
		return m.ascii[c]
	}
	for i := range m.nFew {
		if m.few[i].r == c {
			m.few[i].n++
			return m.few[i].n
		}
	}
	if m.nFew < len(m.few) {
		m.few[m.nFew].r, m.few[m.nFew].n = c, 1
		m.nFew++
		return 1
	}
	if m.many == nil {
		m.many = make(map[rune]int32)
	}
	m.many[c]++
	return m.many[c]
}

// get returns how many c there are.
func (m *runeCounts) get(c rune) int32 {
	if c < utf8.RuneSelf {
		return m.ascii[c]
	}
	for i := range m.nFew {
		if m.few[i].r == c {
			return m.few[i].n
		}
	}
	return m.many[c]
}

// reset empties the multiset after s was added to an empty one, touching
// only what s touched.
func (m *runeCounts) reset(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf {
			m.ascii[c] = 0
		}
	}
	m.nFew = 0
	clear(m.many)
}

// forEachWordPart calls f with each part of Python's re.split(r"\W+", s),
// empty leading and trailing parts included, until f returns false.
func forEachWordPart(s string, f func(part string) bool) {
	start := 0
	inSep := false
	for i, c := range s {
		if pyIsWord(c) {
			if inSep {
				start, inSep = i, false
			}
			continue
		}
		if !inSep {
			if !f(s[start:i]) {
				return
			}
			inSep = true
		}
	}
	if inSep {
		f("")
		return
	}
	f(s[start:])
}

// HelpTexts is Django's password_validators_help_texts(): one sentence per
// validator, in order, for forms.
func (v *Validators) HelpTexts() []string {
	if v == nil {
		return nil
	}
	out := make([]string, 0, len(v.rules))
	for _, r := range v.rules {
		switch r.kind {
		case ruleMinLength:
			if r.minLength == 1 {
				out = append(out, "Your password must contain at least 1 character.")
			} else {
				out = append(out, fmt.Sprintf("Your password must contain at least %d characters.", r.minLength))
			}
		case ruleSimilarity:
			out = append(out, helpSimilarity)
		case ruleCommon:
			out = append(out, helpCommon)
		case ruleNumeric:
			out = append(out, helpNumeric)
		}
	}
	return out
}

// The common-password list.

//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

var commonList struct {
	once sync.Once
	set  map[string]struct{}
	err  error
}

// commonPasswords loads the embedded list on first use.
func commonPasswords() (map[string]struct{}, error) {
	commonList.once.Do(func() {
		commonList.set, commonList.err = loadCommonPasswords(commonPasswordsGz)
	})
	return commonList.set, commonList.err
}

// loadCommonPasswords reads a gzipped list, one password per line, into a
// set; each entry is stripped as Django does ({x.strip() for x in f}). The
// keys share one backing string, so the set costs the text plus the map.
func loadCommonPasswords(gz []byte) (map[string]struct{}, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	var buf bytes.Buffer
	if len(gz) >= 4 {
		// ISIZE, the gzip trailer's uncompressed size (mod 2^32), saves
		// regrowing; capped, since damaged data may claim anything.
		buf.Grow(min(int(binary.LittleEndian.Uint32(gz[len(gz)-4:])), 16<<20) + bytes.MinRead)
	}
	if _, err := io.Copy(&buf, zr); err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	text := buf.String()
	set := make(map[string]struct{}, strings.Count(text, "\n")+1)
	for line := range strings.SplitSeq(text, "\n") {
		if p := pyStrip(strings.TrimSuffix(line, "\r")); p != "" {
			set[p] = struct{}{}
		}
	}
	return set, nil
}

// Python's str semantics.

// pyLower is Python's str.lower(): full lower-case mapping (SpecialCasing's
// unconditional "İ" → "i̇" is the only one with more than one code point)
// and Final_Sigma for U+03A3; everything else is the simple mapping Go's
// unicode.ToLower implements. Invalid UTF-8 bytes become U+FFFD.
func pyLower(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s // nothing to lower: no allocation
	}
	ascii := true
	for j := i; j < len(s); j++ {
		if s[j] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	changes := false
	for _, c := range s[i:] {
		if c == 'İ' || c == 'Σ' || c == utf8.RuneError || unicode.ToLower(c) != c {
			changes = true
			break
		}
	}
	if !changes {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteString(s[:i])
	for j, c := range s[i:] {
		switch c {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(s, i+j) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at byte i of s is in
// Final_Sigma context, as CPython's handle_capital_sigma decides it:
// \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}*\p{cased}).
func finalSigma(s string, i int) bool {
	j := i
	var c rune
	found := false
	for j > 0 {
		var size int
		c, size = utf8.DecodeLastRuneInString(s[:j])
		j -= size
		if !isCaseIgnorable(c) {
			found = true
			break
		}
	}
	if !found || !isCased(c) {
		return false
	}
	for _, c := range s[i+len("Σ"):] {
		if !isCaseIgnorable(c) {
			return !isCased(c)
		}
	}
	return true
}

// isCased is Unicode's Cased property: Lowercase, Uppercase or Lt.
func isCased(c rune) bool {
	return unicode.IsLower(c) || unicode.IsUpper(c) || unicode.IsTitle(c) ||
		unicode.Is(unicode.Other_Lowercase, c) || unicode.Is(unicode.Other_Uppercase, c)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm,
// Sk, or Word_Break MidLetter, MidNumLet or Single_Quote.
func isCaseIgnorable(c rune) bool {
	switch c {
	case '\'', '.', ':', 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024,
		0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(c, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// pyIsSpace is Python's str.isspace() for one code point (bidirectional
// class WS, B or S, or category Zs), the set str.strip() strips.
func pyIsSpace(c rune) bool {
	switch {
	case c <= 0x20:
		return c == ' ' || 0x09 <= c && c <= 0x0D || 0x1C <= c && c <= 0x1F
	case c < 0x85:
		return false
	}
	switch c {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return 0x2000 <= c && c <= 0x200A
}

// pyStrip is Python's str.strip() with no arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// digitNotDecimal lists the code points with Numeric_Type=Digit that are
// not decimal digits (Nd): superscripts, subscripts, circled digits and the
// like. Unicode keeps this set closed ("no new characters will be given
// Numeric_Type=Digit"), so the table does not age.
var digitNotDecimal = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x00B2, 0x00B3, 1}, {0x00B9, 0x00B9, 1}, {0x1369, 0x1371, 1}, {0x19DA, 0x19DA, 1},
		{0x2070, 0x2070, 1}, {0x2074, 0x2079, 1}, {0x2080, 0x2089, 1}, {0x2460, 0x2468, 1},
		{0x2474, 0x247C, 1}, {0x2488, 0x2490, 1}, {0x24EA, 0x24EA, 1}, {0x24F5, 0x24FD, 1},
		{0x24FF, 0x24FF, 1}, {0x2776, 0x277E, 1}, {0x2780, 0x2788, 1}, {0x278A, 0x2792, 1},
	},
	R32: []unicode.Range32{
		{0x10A40, 0x10A43, 1}, {0x10E60, 0x10E68, 1}, {0x11052, 0x1105A, 1}, {0x1F100, 0x1F10A, 1},
	},
}

// pyIsDigit is Python's str.isdigit() for one code point:
// Numeric_Type=Decimal (Nd) or Digit.
func pyIsDigit(c rune) bool {
	if c < utf8.RuneSelf {
		return '0' <= c && c <= '9'
	}
	return unicode.Is(unicode.Nd, c) || unicode.Is(digitNotDecimal, c)
}

// pyIsDigitString is Python's str.isdigit(): non-empty, all digits.
func pyIsDigitString(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !pyIsDigit(c) {
			return false
		}
	}
	return true
}

// pyIsWord is Python re's Unicode \w: str.isalnum() or "_", that is a
// letter (L*) or a number (N*) — not a combining mark, unlike other regex
// engines; Go's regexp \w is ASCII only.
func pyIsWord(c rune) bool {
	if c < utf8.RuneSelf {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
	}
	return unicode.IsLetter(c) || unicode.IsNumber(c)
}
