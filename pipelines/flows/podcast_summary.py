"""Summarizing a long transcript with a small local LLM without losing its end or inventing its facts.

The transcript becomes compact lines (`#12 [03:15] S1: text`), cut into chunks sized from the model's real
context window. A map step asks each chunk for topics (each starting at a segment id) and ids of lines worth
quoting; reduce steps merge topics until they fit one prompt, and a last step writes the title, abstract,
chapters and key points. The model names segment ids only: code turns them into times, and quotes are
lines of the transcript copied verbatim (picked by the model's ids, topped up by an extractive ranking).

A step whose answer is empty or not the asked JSON is asked again with a reminder, then split in two, and
only then the run stops with an error naming the lines — never an empty or partial summary. Every
validated step is stored in the `Job`, so a rerun asks the model nothing it has answered already.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import StageError, UserInputError
from ..jobs import Job, content_key
from ..stages import LLM, Progress, no_progress
from ..types import Message
from .podcast_skim import STOP, STRETCH, skim
from .podcast_speakers import Turn

RETRIES = 1                 # extra asks with a reminder before a step is split
MIN_SPLIT_LINES = 6         # a chunk this small is not split further
QUOTES = 4
DEFAULT_CONTEXT = 4096

SYSTEM = ("You summarize podcast transcripts. Each transcript line starts with a segment id like #12, then "
          "the speaker. You answer with one JSON object only, no other text. You refer to "
          "moments only by segment ids that appear in the input, never by times.")

MAP_TASK = """Transcript part {part} of {parts}:
{lines}

Return JSON: {{"topics": [{{"first_id": <id of the line where the topic starts>, "title": "<a short title>", \
"points": ["<a key point in one sentence>", ...]}}], "quote_ids": [<ids of 1 to 3 lines worth quoting word for \
word>]}}
Give 1 to 4 topics in the order they come, 1 to 3 points each, each point under 20 words. Use only ids from the lines above. Write the JSON compactly."""

MERGE_TASK = """Topics found in consecutive parts of a podcast, each with the id of its first line:
{lines}

Merge them into at most {limit} topics. Return JSON: {{"topics": [{{"first_id": <id>, "title": "<a short \
title>", "points": ["<key point>", ...]}}], "quote_ids": []}}
Each first_id must be one of the ids above."""

FINAL_TASK = """Topics of a whole podcast, in order, each with the id of its first line:
{lines}

Lines that could be quoted:
{quotes}

Return JSON: {{"title": "<title of the podcast>", "abstract": "<3 to 5 sentences>", "chapters": \
[{{"first_id": <id>, "title": "<chapter title>", "points": ["<key point>", ...]}}], "key_points": \
["<the most important points, one sentence each>"], "quote_ids": [<ids of the 2 to 4 best lines to quote>]}}
Give 2 to 8 chapters in time order; each first_id must be one of the topic ids above. Write the JSON compactly."""

DIRECT_TASK = """Transcript of a whole podcast:
{lines}

Return JSON: {{"title": "<title of the podcast>", "abstract": "<3 to 5 sentences>", "chapters": \
[{{"first_id": <id of the line where the chapter starts>, "title": "<chapter title>", "points": ["<key point>", \
...]}}], "key_points": ["<the most important points, one sentence each>"], "quote_ids": [<ids of the 2 to 4 \
best lines to quote word for word>]}}
Give 2 to 6 chapters in time order, 1 to 3 points each, each point under 20 words. Use only ids from the \
lines above. Write the JSON compactly."""

HEADLINE_TASK = """Topics of a whole podcast, in order:
{lines}

Return JSON: {{"title": "<title of the podcast>", "abstract": "<3 to 5 sentences>"}}
Write the JSON compactly."""

MAX_CHAPTERS = 8
# A skimmed talk is read in parts this big: asked about 6,000 tokens at once, the 1.5B summarized only the first
# 10 minutes of an hour; small parts keep every stretch in some prompt's focus.
SKIM_PART_TOKENS = 1500

REMINDER = ("Your previous answer was empty or not the JSON object asked for. Answer again with the JSON "
            "object only, exactly in the asked shape, using only ids from the input.")


class SummaryError(StageError):
    """The LLM gave no usable answer for part of the transcript, even after retries and splitting."""

    def __init__(self, message: str):
        super().__init__("llm", "summary", RuntimeError(message))


@dataclass(frozen=True)
class Topic:
    first_id: int
    title: str
    points: tuple[str, ...]


def clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def transcript_line(turn: Turn) -> str:
    """What the model reads: no times (it names ids; code turns them into times): 22 % fewer tokens."""
    return f"#{turn.id} {turn.speaker}: {turn.text}"


# --- talking to the model -------------------------------------------------------------------------------

def context_window(llm: LLM, default: int = DEFAULT_CONTEXT) -> int:
    for obj in (llm, getattr(llm, "config", None)):
        for name in ("context_size", "n_ctx"):
            value = getattr(obj, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return default


def reply_budget(llm: LLM, default: int = 768) -> int:
    value = getattr(getattr(llm, "config", None), "max_tokens", None)
    return value if isinstance(value, int) and value > 0 else default


def token_counter(llm: LLM) -> Callable[[str], int]:
    count = getattr(llm, "count_tokens", None)
    if callable(count):
        return count
    return lambda text: len(text) // 3 + 1  # a safe over-estimate for English and code-like text


def parse_json(text: str) -> dict | None:
    """The JSON object in a reply (models wrap it in ``` fences or add a sentence); None if there is none."""
    text = re.sub(r"```(?:json)?", "", text or "")
    start = text.find("{")
    while start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                esc = (ch == "\\") and not esc
                if ch == '"' and not esc:
                    in_str = False
                continue
            if ch == '"':
                in_str, esc = True, False
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start:i + 1])
                    except ValueError:
                        break
                    return value if isinstance(value, dict) else None
        start = text.find("{", start + 1)
    return None


def _as_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*#?(\d+)\s*", value)
        return int(m.group(1)) if m else None
    return None


def _texts(value, limit: int = 8) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(" ".join(v.split()) for v in value if isinstance(v, str) and v.strip())[:limit]


def _topics(value, valid: set[int]) -> list[Topic]:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        first = _as_id(item.get("first_id", item.get("id")))
        title = item.get("title")
        if first in valid and isinstance(title, str) and title.strip():
            out.append(Topic(first, " ".join(title.split()), _texts(item.get("points"))))
    return out


def _said(lines) -> set[str]:
    return {w.lower() for line in lines for w in re.findall(r"[A-Za-z]+", line)}


def _made_up_names(point: str, said: set[str]) -> list[str]:
    """Capitalised words of a point that its transcript part never says: on the one-hour reading the 1.5B
    wrote "Sarah's initial escape attempt with the jar", and no Sarah is in the book."""
    found = [(m.start(), m.group(1), m.group(2)) for m in re.finditer(r"\b([A-Z][a-z]+)('s)?\b", point)]
    names = [n for at, n, possessive in found if at > 0 or possessive]  # a first word is often just a verb
    return [n for n in names if n.lower() not in said and n.lower() not in STOP]


def _ids(value, valid: set[int]) -> list[int]:
    ids = [_as_id(v) for v in (value if isinstance(value, list) else [])]
    return [i for i in dict.fromkeys(ids) if i in valid]


class Asker:
    """Asks the LLM one step, validates the JSON, retries with a reminder, caches what was valid."""

    def __init__(self, llm: LLM, job: Job | None, engine: str, progress: Progress = no_progress,
                 count: Callable[[str], int] | None = None):
        self.llm, self.job, self.engine = llm, job, engine
        self.calls = 0
        self.progress, self.count = progress, count
        self.at, self.doing = 0.0, "asking the model"   # where the caller is, for the progress line

    def _reply(self, messages: list[Message]) -> str:
        """The streamed answer, with progress while a slow model reads (minutes on 2 cores) and writes."""
        if self.count is not None:
            self.progress(self.at, f"{self.doing}: the model reads {self.count(messages[-1].content):,} tokens")
        pieces = []
        for piece in self.llm.reply(messages):
            pieces.append(piece)
            if len(pieces) % 16 == 0:
                self.progress(self.at, f"{self.doing}: {len(pieces)} tokens written")
        return "".join(pieces)

    def ask(self, task: str, validate: Callable[[dict], dict | None]) -> dict | None:
        key = content_key("summary-step", self.engine, SYSTEM, task)
        if self.job is not None:
            cached = self.job.get_json(key)
            if cached is not None:
                return cached
        for attempt in range(RETRIES + 1):
            prompt = task + ("\n\n" + REMINDER if attempt else "")
            messages = [Message("system", SYSTEM), Message("user", prompt)]
            self.calls += 1
            try:
                text = self._reply(messages)
            except UserInputError:  # the prompt did not fit after all: the caller splits it
                return None
            parsed = parse_json(text)
            result = validate(parsed) if parsed is not None else None
            if result is not None:
                if self.job is not None:
                    self.job.put_json(key, result)
                return result
        return None


# --- map, reduce, final -------------------------------------------------------------------------------

def chunk_lines(lines: Sequence[str], budget: int, count: Callable[[str], int]) -> list[list[int]]:
    """Consecutive line indices whose text fits `budget` tokens (a single over-long line gets its own)."""
    chunks: list[list[int]] = []
    used = 0
    for i, line in enumerate(lines):
        n = count(line) + 1
        if chunks and used + n <= budget:
            chunks[-1].append(i)
            used += n
        else:
            chunks.append([i])
            used = n
    return chunks


@dataclass
class Summary:
    title: str
    abstract: str
    chapters: list[dict]         # {start, title, points, segment}
    key_points: list[str]
    quotes: list[dict]           # {text, start, speaker, segment}
    llm_calls: int = 0
    lines_read: int = 0          # transcript lines the LLM read (fewer than lines_total when it skimmed)
    lines_total: int = 0

    def to_dict(self) -> dict:
        return {"title": self.title, "abstract": self.abstract, "chapters": self.chapters,
                "key_points": self.key_points, "quotes": self.quotes,
                "lines_read": self.lines_read, "lines_total": self.lines_total}


def summarize(turns: Sequence[Turn], llm: LLM, job: Job | None = None, *, context: int | None = None,
              read_tokens: int | None = None, progress: Progress = no_progress,
              source: str = "transcript") -> Summary:
    """Title, abstract, chapters, key points and verbatim quotes of a speaker-labelled transcript.

    With `read_tokens`, a longer transcript is skimmed to about that many tokens (see podcast_skim); quotes
    and times still come from every line."""
    if not turns:
        raise UserInputError("nothing to summarize: the transcript is empty", path=source)
    by_id = {t.id: t for t in turns}
    engine = f"{type(llm).__module__}.{type(llm).__name__}:{getattr(llm, 'config', '')}"
    count = token_counter(llm)
    asker = Asker(llm, job, engine, progress, count)
    window = context or context_window(llm)
    overhead = count(SYSTEM) + max(count(MAP_TASK), count(DIRECT_TASK)) + count(REMINDER) + 64
    budget = window - reply_budget(llm) - overhead
    if budget < 200:
        raise UserInputError(f"the LLM's context ({window} tokens) leaves no room for the transcript after its "
                             f"reply budget ({reply_budget(llm)} tokens); use a larger n_ctx")
    lines = [transcript_line(t) for t in turns]
    everything = len(lines)
    if read_tokens is not None:
        sizes = [count(line) + 1 for line in lines]
        keep = skim([t.text for t in turns], [t.start for t in turns], sizes, read_tokens)
        if len(keep) < len(lines):
            progress(0.0, f"skimming: reading {sum(sizes[i] for i in keep):,} of {sum(sizes):,} tokens "
                          f"({len(keep)} of {len(lines)} lines, the central ones of every {STRETCH / 60:.0f} min)")
        lines = [lines[i] for i in keep]
        reading = [turns[i] for i in keep]
    else:
        reading = list(turns)
    skimmed = len(lines) < everything
    chunks = chunk_lines(lines, min(budget, SKIM_PART_TOKENS) if skimmed else budget, count)
    progress(0.0, f"summarizing {len(lines)} lines in {len(chunks)} part(s)")
    span = (turns[0].start, turns[-1].end)

    topics: list[Topic] = []
    candidates: list[int] = []

    def map_chunk(idx: list[int], part: int) -> None:
        ids = [reading[i].id for i in idx]
        valid = set(ids)

        said = _said(lines[i] for i in idx)

        def check(d: dict) -> dict | None:
            found = _topics(d.get("topics"), valid)
            if not found:
                return None
            return {"topics": [t.__dict__ | {"points": [p for p in t.points if not _made_up_names(p, said)]}
                               for t in found],
                    "quote_ids": _ids(d.get("quote_ids"), valid)}

        task = MAP_TASK.format(part=part, parts=len(chunks), lines="\n".join(lines[i] for i in idx))
        asker.at, asker.doing = 0.8 * (part - 1) / len(chunks), f"part {part} of {len(chunks)}"
        result = asker.ask(task, check)
        if result is None:
            if len(idx) < MIN_SPLIT_LINES:
                raise SummaryError(f"the LLM gave no usable answer for transcript lines #{ids[0]}–#{ids[-1]} "
                                   f"({clock(reading[idx[0]].start)}–{clock(reading[idx[-1]].end)}), even after "
                                   f"{RETRIES + 1} tries and splitting; nothing was written")
            half = len(idx) // 2
            map_chunk(idx[:half], part)
            map_chunk(idx[half:], part)
            return
        topics.extend(Topic(t["first_id"], t["title"], tuple(t["points"])) for t in result["topics"])
        candidates.extend(result["quote_ids"])

    if len(chunks) == 1:  # it all fits one prompt: ask for the final summary straight from the transcript
        read_ids = {t.id for t in reading}
        asker.doing = "summary in one step"
        final = asker.ask(DIRECT_TASK.format(lines="\n".join(lines)),
                          _final_checker(read_ids, read_ids, by_id, span, _said(lines)))
        if final is not None:
            return _finish(final, turns, [], [], asker, progress, (len(lines), everything))
    for n, idx in enumerate(chunks, 1):
        map_chunk(idx, n)
        progress(0.8 * n / len(chunks), f"summarized part {n} of {len(chunks)}")

    topics = _ordered(topics, by_id)
    final = None
    if not skimmed:  # skimmed, the parts' topics are the chapters: the long final answer cost the 1.5B ~3 min
        final = _final_from_topics(topics, turns, by_id, candidates, lines, asker, count, window, span, progress)
    if final is None:  # a smaller question: title and abstract only; the chapters are the topics themselves
        progress(0.9, "asking for the title and abstract alone; chapters from the topics")
        final = _from_topics(topics, by_id, asker)
    if final is None:
        asked = "a title and abstract" if skimmed else "title/abstract/chapters, nor a title and abstract alone,"
        raise SummaryError(f"the LLM gave no usable {asked} for {source} after {RETRIES + 1} tries; "
                           f"nothing was written")
    return _finish(final, turns, topics, candidates, asker, progress, (len(lines), everything))


def _final_from_topics(topics: list[Topic], turns: Sequence[Turn], by_id: dict[int, Turn], candidates: list[int],
                       lines: list[str], asker: Asker, count, window: int, span: tuple[float, float],
                       progress: Progress) -> dict | None:
    """Merge rounds until the topics fit one prompt, then the title, abstract, chapters and key points."""
    final_overhead = count(SYSTEM) + count(FINAL_TASK) + count(REMINDER) + 64
    quote_lines = [transcript_line(by_id[i]) for i in _rank_quotes(candidates, turns, topics)[:12]]
    room = window - reply_budget(asker.llm) - final_overhead - sum(count(q) + 1 for q in quote_lines)
    rounds = 0
    while sum(count(_topic_line(t, by_id)) + 1 for t in topics) > room:
        rounds += 1
        if rounds > 8:
            raise SummaryError("the topics would not merge into one prompt after 8 rounds")
        topics[:] = _merge_round(topics, by_id, asker, count, room)
        progress(0.85, f"merged topics (round {rounds}): {len(topics)} left")
    valid_quotes = {int(q.split()[0][1:]) for q in quote_lines}
    asker.at, asker.doing = 0.85, f"chapters from {len(topics)} topics"
    task = FINAL_TASK.format(lines="\n".join(_topic_line(t, by_id) for t in topics),
                             quotes="\n".join(quote_lines) or "(none)")
    return asker.ask(task, _final_checker({t.first_id for t in topics}, valid_quotes, by_id, span, _said(lines)))


def _from_topics(topics: list[Topic], by_id: dict[int, Turn], asker: Asker) -> dict | None:
    """The final summary when the full final step keeps failing (a long answer is where a small model's JSON
    breaks): chapters are the merged topics, already checked against the transcript, grouped into at most
    MAX_CHAPTERS in time order; only the title and abstract are asked for."""
    asker.at, asker.doing = 0.9, "title and abstract"
    head = asker.ask(HEADLINE_TASK.format(lines="\n".join(f"- {t.title}" + (f": {'; '.join(t.points)}" if t.points
                                                                              else "") for t in topics)),
                     _title_abstract)
    if head is None or not topics:
        return None
    size = -(-len(topics) // MAX_CHAPTERS)  # ceil: consecutive topics share a chapter
    chapters = [{"first_id": group[0].first_id, "title": group[0].title,
                 "points": [p for t in group for p in t.points[:2]][:4]}
                for group in (topics[i:i + size] for i in range(0, len(topics), size))]
    return {**head, "chapters": chapters, "key_points": [], "quote_ids": []}


def _title_abstract(d: dict) -> dict | None:
    """A non-empty title and abstract (an abstract given as a list of sentences is joined), whitespace tidied."""
    title, abstract = d.get("title"), d.get("abstract")
    if isinstance(abstract, list):
        abstract = " ".join(a for a in abstract if isinstance(a, str))
    if isinstance(title, str) and title.strip() and isinstance(abstract, str) and abstract.strip():
        return {"title": " ".join(title.split()), "abstract": " ".join(abstract.split())}
    return None


def covers(starts: Sequence[float], span: tuple[float, float]) -> bool:
    """Do chapters starting at `starts` reach through the talk? The last starts past its middle and no two
    neighbours (nor the start and the first, the last and the end) are more than half the talk apart. A small
    model asked for a whole hour at once wrote chapters for its first 10 minutes only. Under 10 minutes, one
    chapter can be honest: not checked."""
    begin, end = span
    length = end - begin
    if length < 600 or not starts:
        return bool(starts)
    marks = [begin] + sorted(starts) + [end]
    return marks[-2] - begin >= 0.5 * length and all(b - a <= 0.5 * length for a, b in zip(marks, marks[1:]))


def _final_checker(valid_chapters: set[int], valid_quotes: set[int], by_id: dict[int, Turn] | None = None,
                   span: tuple[float, float] | None = None,
                   said: set[str] | None = None) -> Callable[[dict], dict | None]:
    def kept(points) -> list[str]:
        return [p for p in points if said is None or not _made_up_names(p, said)]

    def check_final(d: dict) -> dict | None:
        head = _title_abstract(d)
        chapters = _topics(d.get("chapters"), valid_chapters)
        if head is None or not chapters:
            return None
        if by_id is not None and span is not None and not covers([by_id[c.first_id].start for c in chapters], span):
            return None  # asked again with the reminder, then the topics themselves become the chapters
        return {**head,
                "chapters": [c.__dict__ | {"points": kept(c.points)} for c in chapters],
                "key_points": kept(_texts(d.get("key_points"), 12)),
                "quote_ids": _ids(d.get("quote_ids"), valid_quotes)}
    return check_final


def _finish(final: dict, turns: Sequence[Turn], topics: list[Topic], candidates: list[int], asker: Asker,
            progress: Progress, read: tuple[int, int]) -> Summary:
    """Times from the chapters' ids, quotes copied from the transcript lines."""
    by_id = {t.id: t for t in turns}
    if not topics:
        topics = [Topic(c["first_id"], c["title"], tuple(c["points"])) for c in final["chapters"]]
    progress(0.95, "choosing quotes")
    chapters = _chapters(final["chapters"], by_id, max(20.0, 0.02 * (turns[-1].end - turns[0].start)))
    ranked = _rank_quotes(final["quote_ids"] + candidates, turns, topics, final["key_points"])
    chosen = _spread(list(dict.fromkeys([i for i in final["quote_ids"] if _quotable(by_id[i])] + ranked)),
                     [c["start"] for c in chapters], by_id, QUOTES)
    quotes = [{"text": by_id[i].text, "start": by_id[i].start, "speaker": by_id[i].speaker, "segment": i}
              for i in sorted(chosen, key=lambda i: by_id[i].start)]
    key_points = final["key_points"] or [c["points"][0] for c in chapters if c["points"]][:8]  # one per chapter
    progress(1.0, "summarized")
    return Summary(final["title"], final["abstract"], chapters, key_points, quotes, asker.calls, *read)


def _topic_line(t: Topic, by_id: dict[int, Turn]) -> str:
    points = "; ".join(t.points)
    return f"#{t.first_id} [{clock(by_id[t.first_id].start)}] {t.title}" + (f": {points}" if points else "")


def _ordered(topics: list[Topic], by_id: dict[int, Turn]) -> list[Topic]:
    seen: dict[int, Topic] = {}
    for t in topics:
        if t.first_id in seen:  # two topics at one line: keep both points under the first title
            old = seen[t.first_id]
            seen[t.first_id] = Topic(old.first_id, old.title, (old.points + t.points)[:6])
        else:
            seen[t.first_id] = t
    return sorted(seen.values(), key=lambda t: by_id[t.first_id].start)


def _merge_round(topics: list[Topic], by_id, asker: Asker, count, room: int) -> list[Topic]:
    """One reduce round: consecutive groups of topics that fit a prompt are merged into fewer topics."""
    budget = room // 2
    groups = chunk_lines([_topic_line(t, by_id) for t in topics], budget, count)
    merged: list[Topic] = []
    for idx in groups:
        group = [topics[i] for i in idx]
        merged.extend(_merge_group(group, by_id, asker))
    merged = _ordered(merged, by_id)
    if len(merged) >= len(topics):  # the model did not shrink anything: keep every other topic's title
        merged = [Topic(a.first_id, a.title, (a.points + b.points)[:4])
                  for a, b in zip(topics[::2], topics[1::2] + [Topic(0, "", ())])]
    return merged


def _merge_group(group: list[Topic], by_id, asker: Asker) -> list[Topic]:
    asker.at, asker.doing = 0.82, f"merging {len(group)} topics"
    valid = {t.first_id for t in group}
    limit = max(1, len(group) // 2)

    def check(d: dict) -> dict | None:
        found = _topics(d.get("topics"), valid)
        if not found:
            return None
        return {"topics": [t.__dict__ | {"points": list(t.points)} for t in found[:limit]]}

    task = MERGE_TASK.format(lines="\n".join(_topic_line(t, by_id) for t in group), limit=limit)
    result = asker.ask(task, check)
    if result is None:
        if len(group) < 4:
            raise SummaryError(f"the LLM could not merge the topics starting at "
                               f"{clock(by_id[group[0].first_id].start)}; nothing was written")
        half = len(group) // 2
        return _merge_group(group[:half], by_id, asker) + _merge_group(group[half:], by_id, asker)
    return [Topic(t["first_id"], t["title"], tuple(t["points"])) for t in result["topics"]]


def _chapters(items: list[dict], by_id: dict[int, Turn], min_gap: float = 20.0) -> list[dict]:
    """Chapters in time order, one per start, times from the segment ids. Small models repeat themselves when
    topics are merged: each point is kept once (where it first appears), a speaker label copied from the
    transcript is dropped, and consecutive chapters with the same title become one. A chapter starting less
    than `min_gap` seconds after the previous one joins it (a 5-minute talk got a 6-second chapter with no
    points); the joined chapter keeps the first title unless only the second had points."""
    out: list[dict] = []
    seen_starts: set[int] = set()
    seen_points: set[str] = set()
    for c in sorted(items, key=lambda c: by_id[c["first_id"]].start):
        seg = by_id[c["first_id"]]
        if seg.id in seen_starts:
            continue
        seen_starts.add(seg.id)
        points = []
        for p in c["points"]:
            p = _SPEAKER_LABEL.sub("", p).strip()
            key = " ".join(re.findall(r"\w+", p.lower()))
            if key and key not in seen_points:
                seen_points.add(key)
                points.append(p)
        if out and out[-1]["title"].strip().lower() == c["title"].strip().lower():
            out[-1]["points"].extend(points)
            continue
        if out and seg.start - out[-1]["start"] < min_gap:
            if not out[-1]["points"] and points:
                out[-1]["title"] = c["title"]
            out[-1]["points"].extend(points)
            continue
        out.append({"start": round(seg.start, 3), "title": c["title"], "points": points, "segment": seg.id})
    return out


_SPEAKER_LABEL = re.compile(r"^\s*(?:#\d+\s*)?S\d+\s*:\s*")


def _content(text: str) -> set[str]:
    return {w for w in re.findall(r"[\w']+", text.lower()) if w not in STOP and len(w) > 2}


def _quotable(turn: Turn) -> bool:
    n = len(turn.text.split()) if " " in turn.text.strip() else len(turn.text) // 2
    return 6 <= n <= 60


def _whole(turn: Turn) -> bool:
    """A line that is a whole sentence: it starts as one (not "and frequently...") and ends with a stop."""
    text = turn.text.strip()
    return bool(text) and not text[0].islower() and text[-1] in ".!?。！？…\"'”’"


def _spread(ranked: list[int], chapter_starts: list[float], by_id: dict[int, Turn], limit: int) -> list[int]:
    """The best `limit` quotes in rank order, preferring whole sentences and one per chapter before a second
    from any chapter (quotes from one stretch say little about the rest)."""
    def chapter(i: int) -> int:
        return sum(1 for s in chapter_starts if s <= by_id[i].start)

    order = [i for i in ranked if _whole(by_id[i])] + [i for i in ranked if not _whole(by_id[i])]
    chosen: list[int] = []
    used: set[int] = set()
    for i in order:
        if len(chosen) < limit and chapter(i) not in used:
            chosen.append(i)
            used.add(chapter(i))
    for i in order:
        if len(chosen) < limit and i not in chosen:
            chosen.append(i)
    return chosen


def _rank_quotes(ids: list[int], turns: Sequence[Turn], topics: list[Topic],
                 key_points: Sequence[str] = ()) -> list[int]:
    """Quotable lines, best first: the model's picks, then lines sharing the most words with the summary."""
    by_id = {t.id: t for t in turns}
    summary_words = Counter()
    for t in topics:
        summary_words.update(_content(t.title + " " + " ".join(t.points)))
    for p in key_points:
        summary_words.update(_content(p))
    picked = [i for i in dict.fromkeys(ids) if i in by_id and _quotable(by_id[i])]

    def score(turn: Turn) -> float:
        words = _content(turn.text)
        return sum(summary_words[w] for w in words) / (1 + len(turn.text.split()) ** 0.5)

    rest = sorted((t for t in turns if _quotable(t) and t.id not in picked), key=score, reverse=True)
    return picked + [t.id for t in rest]
