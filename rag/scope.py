"""Stage 1b, scope: whether a question is about the collection as a whole ("what are today's
papers about?") or about its listing fields (code links, authors, upvotes, dates), and if so
what exactly it asks. Any other question goes on to retrieval.

The cues are word classes, not phrasings: a field is named by any of its words ("code",
"github", "repo", "open-sourced"); an author by any form of a name the collection lists (full,
reversed, with initials, without accents); a day by a weekday, a date or a relative day, which
are resolved against the collection's own days.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from rag.relevance import key_terms

Field = Literal[
    "github", "project_page", "upvotes", "comments", "keywords", "authors", "published", "count"
]
Known = Callable[[str], bool]
Kind = Literal["overview", "listing", "compare"]

FIELD_CUES: list[tuple[Field, re.Pattern[str]]] = [
    (
        "github",
        re.compile(
            r"\bgit\s?hub\b|\brepos?\b|\brepositor(?:y|ies)\b|\bopen[- ]?sourced?\b|\bsource code"
            r"|\b(?:with|without|w/o|w/|have|has|having|had|release[sd]?|share[sd]?"
            r"|publish(?:ed|es)?|provide[sd]?|any|their|its|public|available|link(?:s|ed)?(?: to)?"
            r"|includes?|no)"
            r"\s+(?:the\s+|a\s+|any\s+|public\s+|their\s+|its\s+)?(?:code(?:base)?|implementations?)"
            r"\b(?!\s*(?:generation|gen|llms?|models?|completion|review|reasoning|agents?|editing"
            r"|search|synthesis|understanding|translation|benchmarks?|tasks?))"
            r"|\bcode\s+(?:available|released|links?|public|for|of)\b|\bcode\s*\?"
            r"|\blink\s+(?:me\s+)?(?:to\s+)?(?:the\s+)?code\b",
            re.I,
        ),
    ),
    (
        "published",
        re.compile(
            r"\bwhen\s+(?:was|were|did|is)\b(?=.*\b(?:published|released|posted|submitted"
            r"|come\s+out|came\s+out|appear)\b)|\b(?:newest|oldest|latest|earliest|most\s+recent)"
            r"\s+(?:papers?|ones?|one|preprints?)\b",
            re.I,
        ),
    ),
    ("project_page", re.compile(r"\bproject\s*(?:page|site|website)s?\b|\bhomepages?\b", re.I)),
    (
        "upvotes",
        re.compile(
            r"\bup-?vot\w*|\bvotes?\b|\bmost\s+(?:popular|liked|loved|hyped)(?=(?:\s+[\w-]+){0,4}"
            r"\s+papers?\b)|\bmost\s+(?:popular|liked|loved|hyped)(?=\s*(?:papers?\b"
            r"|ones?\b|work\b|today|this\s+week|on\b|in\b|[?.!]|$))"
            r"|\b(?:popular|hottest|trending|top[- ]rated)\s+(?:papers?|ones?|one)\b",
            re.I,
        ),
    ),
    ("comments", re.compile(r"\bcomments?\b|\bmost\s+discuss\w*|\bdiscussions?\b", re.I)),
    (
        "keywords",
        re.compile(
            r"\b(?:ai|hf|hugging\s*face|listed|their|its)\s+keywords\b|\bkeywords\s+(?:of|for|listed"
            r"|does|do|are|is|say)\b|\bwhat\s+keywords\b|\bby\s+keywords?\b|\btags?\b"
            r"|\btagged\b",
            re.I,
        ),
    ),
    (
        "count",
        re.compile(
            r"#\s*of\b(?=.*\bpapers)|\bnumber\s+of\b(?=.*\bpapers)|\bhow\s+many\b"
            r"(?=(?:\s+[\w-]+){0,5}?\s+(?:papers|preprints|of\s+(?:them|the\s+papers)))"
            r"|\bhow\s+many\s+are\s+(?:there|listed)\b|\bcount\s+(?:the\s+)?papers\b",
            re.I,
        ),
    ),
]
AUTHOR_CUE = re.compile(
    r"\bwhich\s+authors?\b|\bauthors?\s+(?:has|have|with)\s+the\s+most\b|\bmost\s+prolific\b"
    r"|\bwho\s+(?:are|were|is)\s+the\s+authors?\b|\bauthors?\s+(?:named|called|list|include)\b"
    r"|^\W*(?:who|list|name|give\s+me|show\s+me|what\s+are|tell\s+me)\b.*\bauthors?\b"
    r"|\b(?:an?|the)\s+author\s+(?:on|of)\b"
    r"|\bauthored\b|\bwho\s+wr[oi]te\b|\bwritten\s+by\b|\bco-?authors?|\b(?:papers?|work|works"
    r"|anything|something|articles?|stuff)\s+(?:by|from)\b|\bby\s+(?:the\s+)?author",
    re.I,
)
NAME_AFTER_CUE = re.compile(
    r"(?:\b(?:papers?|work|works|anything|something|articles?|stuff)\s+(?:by|from)"
    r"|\b(?:written|authored|co-?authored)\s+by|\bauthors?\s+(?:named|called))"
    r"\s+(?P<name>[^\s?,!;]+(?:\s+[^\s?,!;]+){0,2})",
    re.I,
)
# An overview is asked for by these words alone ("overview pls"), or by the weaker ones of
# `ABOUT_CUE` about the papers ("what do these papers cover?").
OVERVIEW_CUE = re.compile(
    r"\boverviews?\b|\bthemes\b|\b(?:main|key|major|top|which|what|common)\s+(?:topics|themes?)\b"
    r"|\btopics\s+(?:today|covered|here|this\s+week)\b|\btrending\b|\btl;?\s?dr\b|\bsummar\w*"
    r"|\bhighlights?\b|\bdigest\b|\brecap\b|\brundown\b|\bat a glance\b|\bbig picture\b"
    r"|\bmain\s+(?:areas?|ideas?|directions?|subjects?)\b|\bresearch\s+(?:areas?|directions?)\b"
    r"|\bgist\b|\bskim\b|\bbreakdown\b|\bcategori[sz]e\b|\bgroup(?:ed)?\s+(?:them\s+)?by\b"
    r"|\bcatch\s+(?:me\s+)?up\b|\blay\s+of\s+the\s+land\b|\btakeaways?\b|\bcommon\s+threads?\b"
    r"|\bbird'?s[- ]eye\b|\bwhat\s+(?:should|do)\s+i\s+(?:need\s+to\s+)?know\b"
    r"|\bwa?h?t\s+did\s+i\s+miss\b|\b(?:everyone|people|folks|they)\s+working\s+on\b"
    r"|\bby\s+(?:research\s+)?(?:areas?|topics?|themes?|fields?|subjects?)\b|\borgani[sz]e\b"
    r"|\bsum\s+(?:it\s+|them\s+|this\s+|everything\s+)?up\b|\bbrief\s+me\b|\bbriefing\b"
    r"|\bvibes?\b|\bbeen\s+happening\b|\bhigh[- ]level\b|\bwhat\s+should\s+i\s+read\b"
    r"|\btoo\s+long\s+didn'?t\s+read\b|\bkinds?\s+of\s+problems\b|\btopics?\s+dominat\w*",
    re.I,
)
OVERVIEW_WORDS = (
    "overview",
    "summary",
    "summarize",
    "summarise",
    "themes",
    "topics",
    "trending",
    "digest",
    "highlights",
    "recap",
    "rundown",
    "breakdown",
)
ABOUT_CUE = re.compile(
    r"\bwhat'?s\s+(?:in|new|up|going on|there|out|covered|happening)\b|\bwhat\s+(?:is|are|was"
    r"|were)\s+(?:in|on|out|new)\b|\bwhat\s+(?:came|comes|come|went)\s+(?:out|up)\b|\babout\b"
    r"|\bcover(?:ed|s)?\b|\bmiss(?:ed)?\b|\bwhat\s+(?:do|does|did)\s+(?:\w+\s+){0,3}(?:cover|say)"
    r"|\bwhat\s+(?:should|to)\s+i\s+read\b|\bworth\s+reading\b",
    re.I,
)
COLLECTION_WORDS = re.compile(
    r"\b(?:papers?|collection|listing|list|today'?s?|tonight|this\s+week'?s?|the\s+week|the\s+day"
    r"|day'?s?|daily|everything|all|ones?|them|batch|feed|page|set|submissions?|preprints?"
    r"|articles?|works?|research|stuff|here|arxiv|hf|hugging\s*face|new|latest|recent"
    r"|published|released|posted|submitted|appeared|came\s+out|come\s+out|listed)\b",
    re.I,
)
# Words that carry no topic once the scope cues are read.
SCOPE_WORDS = re.compile(
    r"\b(?:which|what|whats|who|any|are|is|there|give|me|show|list|tell|about|do|does|did|have"
    r"|has|had|with|without|the|a|an|of|in|on|from|for|to|please|pls|plz|quick|quickly|brief"
    r"|briefly|short|main|big|key|major|overall|general|whole|kind|kinds|sort|sorts|type|types"
    r"|can|could|you|u|i|we|my|get|got|some|most|least|top|best|one|ones|them|they|their|it"
    r"|its|rank|ranked|ranking|sorted|order|by|and|or|all|every|each|how|many|much|number|count"
    r"|name|names|link|links|linked|available|public|release|released|share|shared|provide"
    r"|provided|include|includes|out|came|come|appear|appeared|published|posted|submitted"
    r"|happening|going|new|latest|recent|up|anything|something|stuff|look|looks|like|covered"
    r"|cover|covers|read|worth|reading|interesting|papers?|paper|collection|listing|today|todays"
    r"|tonight|week|weeks|weekly|day|days|daily|yesterday|batch|feed|page|set|work|works"
    r"|research|articles?|preprints?|arxiv|hf|hugging|face|here|was|were|be|been|that|this"
    r"|these|those|so|far|yet|just|only|also|too|still|at|as|into|across|over|under|per|via"
    r"|everything|everyone|anyone|overall|recurring|structured|missed|miss|areas?|fields?"
    r"|directions?|subjects?|mins?|minutes?|rn|tbh|lol|quick|fast|today|list|listed|older"
    r"|newer|earlier|later|before|after|since|weekend|went|should|whole|entire|now|day's"
    r"|go|goes|going|happened|happening|skim|skimming|glance|need|want|know|see|write|wrote"
    r"|written|writes|authors?|authored|co-?authors?|people|person|someone|named|called"
    r"|kindly|featured|feature|explain|non-expert|expert|layman|organized|e\.?g|main|five|ten"
    r"|two|three|few|couple|hey|hi|hello|thanks|thank|short|brief|everyone|everybody|folks"
    r"|wat|wut|whats|watz|land|lay|bird|eye|view|threads?|common|takeaways?|dominate|dominating|trend|don|dont"
    r"|doesn|doesnt|didn|didnt|isn|aren|haven|hasn)\b",
    re.I,
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_STEM = r"mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun"
MONTH = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DAY_FORMS = [
    re.compile(r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b"),
    re.compile(
        rf"\b{MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s*(?:-|\u2013|to|through|thru|until|and)\s*"
        r"(?P<day_to>\d{1,2})(?:st|nd|rd|th)?\b(?!\s*(?:%|papers?))",
        re.I,
    ),
    re.compile(rf"\b{MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b", re.I),
    re.compile(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}", re.I),
    re.compile(r"\b(?P<m>\d{1,2})/(?P<day>\d{1,2})\b"),
    re.compile(r"\b(?:in|before|after|since|during|from)\s+(?P<year>(?:19|20)\d{2})\b", re.I),
    re.compile(rf"\b(?P<weekday>{WEEKDAY_STEM})(?:day)?s?\b", re.I),
    re.compile(
        r"\b(?P<relative>today|tonight|yesterday|this\s+week|last\s+week|past\s+week"
        r"|last\s+weekend|this\s+weekend)\b",
        re.I,
    ),
]
NEGATION = re.compile(
    r"(?:\b(?:without|no|lack\w*|missing|not|never|none)\b|\b(?:do|does|did|has|have|is|are)"
    r"n[\u2019']?t\b)(?:\s+\w+){0,3}\s*$",
    re.I,
)
NOT_A_NAME = re.compile(r"\b(?:topic|theme|field|area|subject|this|the|these|those)\b", re.I)
RELATIVE_DAY = re.compile(
    r"\b(?:today|tonight|yesterday|this\s+week|last\s+week|recently|lately|here)\b", re.I
)
RANKING = re.compile(r"\bmost\b|\btop\b|\bhighest\b|\bpopular\b|\bbest\b|\bhottest\b", re.I)
WITHOUT = re.compile(r"without\b|w/o\b|no\b|lacking\b", re.I)
RANGE_JOIN = re.compile(r"^\s*(?:-|\u2013|to|through|thru|until|till|and)\s*$", re.I)
LISTED_CUE = re.compile(
    r"\blisted\b|\bon\s+(?:hf|hugging\s*face|daily\s+papers)\b|\bfeatured\b", re.I
)
DATED_CUE = re.compile(
    r"\b(?:published|released|posted|submitted|came\s+out|dated|appeared|papers?\s+from)\b", re.I
)


COMPARE_FORMS = [
    re.compile(
        r"(?:^|[:;,.!?]\s*)(?:(?:can|could|would)\s+you\s+|please\s+|pls\s+|now\s+|so\s+|ok\s+"
        r"|quickly\s+|briefly\s+)*(?:compare|contrast)\s+(?P<items>.+)",
        re.I,
    ),
    re.compile(r"\b(?:a\s+)?comparison\s+(?:of|between)\s+(?P<items>.+)", re.I),
    re.compile(r"\b(?:differences?|diff|contrast)\s+between\s+(?P<items>.+)", re.I),
    re.compile(
        r"\b(?:how|where|in what way)\s+(?:do|does|did|would|is|are)\s+(?P<a>.+?)\s+(?:differ\w*"
        r"|compare\w*|relate\w*|different)\s+(?:from|to|with|than)\s+(?P<b>[^,?(:;]+)",
        re.I,
    ),
    re.compile(r"\bhow\s+(?:do|does|did|would)\s+(?P<items>.+?)\s+(?:differ|compare)\w*\b", re.I),
    re.compile(
        r"\bhow\s+(?:do|does|did|would)\s+(?P<items>(?:[^,?]+,\s*)*[^,?]+?\s+(?:and|&)\s+\S+)"
        r"\s[^?]*\bdifferently\b",
        re.I,
    ),
    re.compile(r"(?P<items>\S.*?\s(?:vs\.?|versus)\s.+)", re.I),
]
# Where the names of a comparison end: "X vs Y - how do they ...", "compare X and Y (both ...)".
ITEMS_END = re.compile(r"\s+[-\u2013\u2014]\s+|\s*[:;(?]|\s+-{2}\s+")
ITEM_SPLIT = re.compile(
    r"\s*,\s*(?:and\s+|&\s+)?|\s+(?:and|with|to|vs\.?|versus|&|against)\s+", re.I
)
ITEM_NOISE = re.compile(
    r"\b(?:in|as|with|into)\s+(?:a\s+)?(?:table|tabular\s+form|side[- ]by[- ]side)\b.*$"
    r"|\bside[- ]by[- ]side\b"
    r"|\bfor me\b|\bplease\b|\bpls\b|\bplz\b|\bpapers?\b|\bapproach(?:es)?\b|\bmethods?\b"
    r"|\bthe\b|\bone\b|\bin (?:terms of|approach|results?).*$|\bdiffer\b.*$|[?!.]+$"
    r"|\bin\s+(?:how|what|the\s+way|their|its|which)\b.*$|\bboth\b.*$|\bcompared?\b"
    r"|\bwhat'?s\s+different\b.*$",
    re.I,
)


MAX_ITEM_WORDS = 6  # what names a paper is short: a longer item is a question of its own


COMPARE_TOPIC = re.compile(
    r"\b(?:compare|contrast|comparison\s+of|differences?\s+between)\s+(?:the\s+|all\s+)*"
    r"(?P<count>two|three|four|both|2|3|4)?\s*(?P<topic>[^,?(:]+?)\s+papers\b",
    re.I,
)
COUNTS = {"two": 2, "both": 2, "2": 2, "three": 3, "3": 3, "four": 4, "4": 4}


def compared_topic(question: str) -> tuple[str, int]:
    """A comparison of the papers on a topic ("compare the two autoencoder papers"): the
    topic and how many (4 at most), or ("", 0)."""
    match = COMPARE_TOPIC.search(question)
    if not match or not key_terms(match["topic"]):
        return "", 0
    return match["topic"], COUNTS.get((match["count"] or "").lower(), 4)


def compared_items(question: str) -> tuple[str, ...]:
    """What a comparison names ("compare honeycomb and loci in a table" -> honeycomb, loci),
    or () for a question that compares nothing by name."""
    for form in COMPARE_FORMS:
        match = form.search(question)
        if not match:
            continue
        groups = match.groupdict()
        named = groups.get("items") or f"{groups['a']} and {groups['b']}"
        # the names, else where a question puts them: in parentheses, or after a colon
        bare = re.sub(r"\([^)]*\)", " ", named)
        places = [ITEMS_END.split(named)[0], ITEMS_END.split(bare)[0]]
        places += re.findall(r"\(([^)]*)\)", question)
        places += [question.partition(":")[2]] if ":" in question else []
        places += ITEMS_END.split(bare)[1:]
        for place in places:
            items = [" ".join(ITEM_NOISE.sub(" ", i).split()) for i in ITEM_SPLIT.split(place)]
            items = [i for i in items if i and key_terms(i)]
            if 2 <= len(items) <= 6 and all(len(i.split()) <= MAX_ITEM_WORDS for i in items):
                return tuple(items)
    return ()


COMPARE_WORDS = re.compile(
    r"\b(?:compar\w*|contrast\w*|differ\w*|distinguish\w*|between|vs|versus|table|tabular"
    r"|side|each|both|two|three|way|ways|respectively|similar\w*|same)\b",
    re.I,
)


def aspect_of(question: str, items: tuple[str, ...], known: Known) -> str:
    """What a comparison asks about beyond the papers it names ("how they balance multiple
    rewards"), or "" for a plain comparison."""
    text = question
    for item in items:
        text = re.sub(re.escape(item), " ", text, flags=re.I)
    return topic_left(COMPARE_WORDS.sub(" ", text), [], known)


def fold(text: str) -> str:
    """Lower case without accents: "Ángel Núñez" -> "angel nunez"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_tokens(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", fold(text))


@dataclass(frozen=True)
class CollectionDays:
    """The days the collection's papers carry: their own (arXiv) dates and, for papers from
    Daily Papers, the days they were listed (ISO strings, sorted)."""

    published: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()

    def latest(self, dated: str) -> date | None:
        days = self.listed if dated == "listed" else self.published
        return date.fromisoformat(days[-1]) if days else None

    def today(self) -> date | None:
        """The collection's own today: its latest Daily Papers day, else its latest date."""
        return self.latest("listed") or self.latest("published")


@dataclass(frozen=True)
class DaySpan:
    start: date
    end: date
    dated: Literal["published", "listed"]
    text: tuple[int, int]  # where the question says it
    weekday: bool = False  # said by a weekday's name


@dataclass(frozen=True)
class CollectionQuestion:
    """A question about the whole collection or its listing fields."""

    kind: Kind
    field: Field | None = None
    authors: tuple[str, ...] = ()  # the collection's names the question names
    unknown_author: str = ""  # a name asked for that no paper of the collection lists
    date_from: str = ""
    date_to: str = ""
    dated: Literal["published", "listed"] = "published"
    topic: str = ""  # the rest of the question, when it restricts the papers to a subject
    compared: tuple[str, ...] = ()  # what a comparison names, as written
    compared_count: int = 0  # a comparison of a topic's papers: how many ("the two ...")
    lacking: bool = False  # asks for the papers without the field ("no code")
    ranking: bool = False  # asks for the most ("most upvoted"), not each one's value
    referred: tuple[str, ...] = ()  # the titles a follow-up refers to ("which of them ...")


def resolve_day(match: re.Match[str], days: CollectionDays, listed: bool) -> DaySpan | None:
    """The days a matched day expression means in this collection: a weekday or "today" is
    the latest such day the collection has; a date without a year takes the collection's."""
    groups = match.groupdict()
    dated: Literal["published", "listed"] = "listed" if listed and days.listed else "published"
    latest = days.today()
    if latest is None:
        return None
    span = match.span()
    if groups.get("iso"):
        try:
            day = date.fromisoformat(groups["iso"])
        except ValueError:
            return None
        return DaySpan(day, day, dated, span)
    if groups.get("relative"):
        relative = " ".join(groups["relative"].lower().split())
        if relative in ("today", "tonight"):  # "today's papers" are the day's listing
            return DaySpan(latest, latest, "listed" if days.listed else dated, span)
        if relative == "yesterday":
            return DaySpan(latest - timedelta(1), latest - timedelta(1), dated, span)
        if relative in ("last weekend", "this weekend"):
            saturday = latest - timedelta((latest.weekday() - 5) % 7)
            if relative == "last weekend" and saturday >= latest - timedelta(1):
                saturday -= timedelta(7)
            return DaySpan(saturday, saturday + timedelta(1), dated, span)
        if relative == "this week":  # the listing days, when the collection has them
            return DaySpan(latest - timedelta(6), latest, "listed" if days.listed else dated, span)
        return DaySpan(latest - timedelta(13), latest - timedelta(7), dated, span)
    if groups.get("year"):
        year = int(groups["year"])
        return DaySpan(date(year, 1, 1), date(year, 12, 31), dated, span)
    if groups.get("weekday"):
        wanted = next(
            i for i, w in enumerate(WEEKDAYS) if w.startswith(groups["weekday"][:3].lower())
        )
        day = latest - timedelta((latest.weekday() - wanted) % 7)
        return DaySpan(day, day, dated, span, weekday=True)
    month = int(groups["m"]) if groups.get("m") else MONTHS.index(groups["month"][:3].lower()) + 1
    try:
        day = date(latest.year, month, int(groups["day"]))
        end = date(latest.year, month, int(groups.get("day_to") or groups["day"]))
    except ValueError:
        return None
    if day > latest + timedelta(31):  # "Dec 30" asked in January means last year's
        day, end = day.replace(year=day.year - 1), end.replace(year=end.year - 1)
    return DaySpan(day, max(day, end), dated, span)


BEFORE = re.compile(r"\b(?:before|older\s+than|earlier\s+than|prior\s+to|until|up\s+to)\s*$", re.I)
AFTER = re.compile(r"\b(?:after|newer\s+than|later\s+than|since)\s*$", re.I)
SINCE = re.compile(r"\bsince\s*$", re.I)
WEEKDAY_WORD = re.compile(rf"\b(?:{WEEKDAY_STEM})(?:day)?s?\b", re.I)


def find_days(question: str, days: CollectionDays) -> DaySpan | None:
    """The days the question restricts to: one day, "from Sep 28 to Sep 30", "Sept 26-27",
    "before Sep 28", "since Monday". Its `text` spans every day expression found."""
    listed = bool(LISTED_CUE.search(question))
    found = []
    for form in DAY_FORMS:
        for match in form.finditer(question):
            if any(
                match.start() < end and start < match.end()
                for start, end in (f.text for f in found)
            ):
                continue
            resolved = resolve_day(match, days, listed)
            if resolved:
                found.append(resolved)
    if not found:
        return None
    found.sort(key=lambda f: f.text)
    text = (found[0].text[0], found[-1].text[1])
    dates = [f for f in found if not f.weekday] or found  # "tuesday sept 29": the date says it
    first, last = dates[0], dates[-1]
    between = WEEKDAY_WORD.sub(" ", question[first.text[1] : last.text[0]])
    if len(dates) >= 2 and RANGE_JOIN.match(between):
        start, end = sorted((first.start, last.end))
        span = DaySpan(start, end, first.dated, text)
    elif len(dates) == 1 and BEFORE.search(question[: first.text[0]]):
        earliest = date.fromisoformat(min(days.published + days.listed))
        span = DaySpan(earliest, first.start - timedelta(1), first.dated, text)
    elif len(dates) == 1 and AFTER.search(question[: first.text[0]]):
        newest = date.fromisoformat(max(days.published + days.listed))
        since = SINCE.search(question[: first.text[0]])
        start = first.start if since else first.end + timedelta(1)
        span = DaySpan(start, newest, first.dated, text)
    else:
        span = DaySpan(first.start, first.end, first.dated, text)
    return listed_instead(span, days)


def listed_instead(span: DaySpan, days: CollectionDays) -> DaySpan:
    """A span of days on which no paper is dated but papers were listed ("the oct 3 page")
    means the listing."""
    start, end = span.start.isoformat(), span.end.isoformat()
    dated = any(start <= d <= end for d in days.published)
    if span.dated == "published" and not dated and any(start <= d <= end for d in days.listed):
        return DaySpan(span.start, span.end, "listed", span.text)
    return span


def author_forms(name: str) -> list[tuple[tuple[str, ...], bool]]:
    """The token sequences a question may write a name as, and whether the form needs an
    author cue around it (a surname alone may be a word: "Long", "Gong")."""
    tokens = name_tokens(name)
    if not tokens:
        return []
    if len(tokens) == 1:
        return [((tokens[0],), True)]
    first, last = tokens[:-1], tokens[-1]
    initials = tuple(t[0] for t in first)
    forms = [
        (tuple(tokens), False),
        ((last, *first), False),
        ((*initials, last), True),
        ((last, *initials), True),
        ((first[0][0], last), True),
        ((last,), True),
    ]
    return list(dict.fromkeys(forms))


class AuthorNames:
    """The forms of the collection's author names (`author_forms`), by their first token, so
    that a question is searched in the time of its own length."""

    def __init__(self, authors: Iterable[str]) -> None:
        self.forms: dict[str, list[tuple[tuple[str, ...], bool, str]]] = {}
        for name in dict.fromkeys(authors):
            for form, needs_cue in author_forms(name):
                self.forms.setdefault(form[0], []).append((form, needs_cue, name))

    def find(self, question: str) -> tuple[tuple[str, ...], list[tuple[int, int]]]:
        """The collection's authors the question names, by the longest form found, and where."""
        cued = bool(AUTHOR_CUE.search(question))
        folded = fold(question)
        words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\W_]+", folded)]
        tokens = [w for *_, w in words]
        best: dict[int, tuple[int, list[str], tuple[int, int]]] = {}  # start: length, names
        for i, token in enumerate(tokens):
            for form, needs_cue, name in self.forms.get(token, ()):
                size = len(form)
                if tuple(tokens[i : i + size]) != form:
                    continue
                span = (words[i][0], words[i + size - 1][1])
                if needs_cue and not (cued or name_cue_around(folded, span)):
                    continue
                if size == 1 and i and not SCOPE_WORDS.fullmatch(tokens[i - 1]):
                    continue  # "Kaiming He" is not any He of the collection
                length, names, _ = best.get(i, (0, [], span))
                if size > length:
                    best[i] = (size, [name], span)
                elif size == length and name not in names:
                    names.append(name)
        chosen: list[str] = []
        spans: list[tuple[int, int]] = []
        for start in sorted(best, key=lambda s: (-best[s][0], s)):
            _, names, span = best[start]
            if any(span[0] < e and s < span[1] for s, e in spans):
                continue
            spans.append(span)
            chosen += [n for n in names if n not in chosen]
        return tuple(chosen), spans


def name_cue_around(folded: str, span: tuple[int, int]) -> bool:
    """Whether the words around a surname make it a name: "bansal papers", "by bansal",
    "what did carpentier work on"."""
    before, after = folded[: span[0]], folded[span[1] :]
    return bool(
        re.match(r"\s*(?:'s|\u2019s|\bet al|papers?\b|work(?:s|ed)?\b|stuff\b)", after)
        or re.search(r"\b(?:by|did|does|has|from)\s+$", before)
    )


def topic_left(question: str, spans: list[tuple[int, int]], known: Known) -> str:
    """What the question says besides its scope, when the collection's papers use any of its
    terms: the topic it restricts to; else ""."""
    words = words_left(question, spans)
    return words if any(known(t) for t in key_terms(words)) else ""


def words_left(question: str, spans: list[tuple[int, int]]) -> str:
    """The question's words besides its scope: its cues, dates, names and function words."""
    text = question
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    for cue in [c for _, c in FIELD_CUES] + [OVERVIEW_CUE, ABOUT_CUE, AUTHOR_CUE, NEGATION]:
        text = cue.sub(" ", text)
    text = SCOPE_WORDS.sub(" ", text)
    text = re.sub(r"[^\w\s-]|(?<!\w)-|-(?!\w)", " ", text)
    return " ".join(w for w in text.split() if len(w) > 2 and not overview_spelling(w))


def overview_spelling(word: str) -> bool:
    """A word that is an overview word as typed in a hurry ("overveiw", "sumary")."""
    return bool(difflib.get_close_matches(word.lower(), OVERVIEW_WORDS, n=1, cutoff=0.8))


FEW_WORDS = 2  # more words than this that name no paper's topic are a topic all the same


def asks_overview(
    question: str, spans: list[tuple[int, int]], days_named: bool, topic: str, has_papers: Known
) -> bool:
    """Whether the question asks what the papers are about, as a whole. An overview word
    ("overview", "themes", "catch me up") allows words that name no topic of the collection;
    a weaker one ("what's in today's papers?") allows none."""
    if OVERVIEW_CUE.search(question) or any(overview_spelling(w) for w in question.split()):
        # words the collection uses but has no paper on, a few: no topic ("represented")
        return not topic or (len(key_terms(topic)) <= FEW_WORDS and not has_papers(topic))
    weak = (ABOUT_CUE.search(question) or days_named) and COLLECTION_WORDS.search(question)
    return bool(weak) and not key_terms(words_left(question, spans))


def scope(
    question: str,
    authors: AuthorNames,
    days: CollectionDays,
    known: Known,
    has_papers: Known = lambda topic: True,
) -> CollectionQuestion | None:
    """The collection question this is, or None for a question about what papers say.
    `known` tells whether the collection's papers use a (stemmed) term, `has_papers` whether
    it has papers on a topic (an overview's words that name none are no topic: "what are the
    key directions represented today?")."""
    fields = [(name, match) for name, cue in FIELD_CUES if (match := cue.search(question))]
    compared = () if fields else compared_items(question)
    if compared:
        return CollectionQuestion("compare", compared=compared)
    topic, count = compared_topic(question)
    if topic:
        return CollectionQuestion("compare", topic=topic, compared_count=count)
    field_asked: Field | None = fields[0][0] if fields else None
    field_spans = [match.span() for _, match in fields]
    spans = list(field_spans)
    named, name_spans = authors.find(question)
    spans += name_spans
    unknown = ""
    if named:
        field_asked = field_asked if field_asked not in (None, "count") else "authors"
    elif AUTHOR_CUE.search(question):
        match = NAME_AFTER_CUE.search(question)
        candidate = match.group("name") if match else ""
        candidate = RELATIVE_DAY.sub(" ", candidate).strip(" .")
        a_day = any(form.search(candidate) for form in DAY_FORMS)
        if candidate and not a_day and not NOT_A_NAME.search(candidate):
            unknown = candidate
            spans.append(match.span("name"))
            field_asked = field_asked or "authors"
        elif not a_day and re.search(r"\bwho\b|\bauthor|\bwr[oi]te\b|\bwritten\b", question, re.I):
            field_asked = field_asked or "authors"
    day_span = find_days(question, days)
    if day_span:
        spans.append(day_span.text)
    topic = topic_left(question, spans, known)
    dates = {}
    if day_span:
        dates = {
            "date_from": day_span.start.isoformat(),
            "date_to": day_span.end.isoformat(),
            "dated": day_span.dated,
        }
    if field_asked:
        lacking = any(
            NEGATION.search(question[max(0, s - 25) : s]) or WITHOUT.match(question[s:])
            for s, _ in field_spans
        )
        ranking = bool(RANKING.search(question))
        return CollectionQuestion(
            "listing",
            field_asked,
            named,
            unknown,
            topic=topic,
            lacking=lacking,
            ranking=ranking,
            **dates,
        )
    mentions_day = any(form.search(question) for form in DAY_FORMS)
    undated = not (days.published or days.listed) and mentions_day
    if undated and DATED_CUE.search(question) and not OVERVIEW_CUE.search(question):
        return CollectionQuestion("listing", "published", topic=topic)  # no dates to read
    days_named = bool(day_span) or mentions_day
    if asks_overview(question, spans, days_named, topic, has_papers):
        return CollectionQuestion("overview", **dates)
    if day_span and topic and COLLECTION_WORDS.search(question):
        return CollectionQuestion("listing", "published", topic=topic, **dates)
    return None
