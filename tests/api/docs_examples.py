"""The curl examples of docs/api.md, read as a reader reads them and run as printed.

Conventions of the docs that this module relies on (docs/api.md's "set these first" block says so
to the reader too):
- The first `sh` block is the "set these first" block: `export NAME=value` lines. A value with an
  ellipsis (`sk_test_...`) is the reader's to fill in; any other is used as printed.
- Every other `sh` block holds curl commands (a command goes on over lines ending in a backslash
  and through a here-document). A command may keep a value of its answer in a shell variable
  (`PAYMENT_ID=$(curl ... | python3 -c "$PRINT_ID")`) for later examples.
- A command's answer is the comment right under it, `# <status> <answer>` (or `# {…}`), going on
  in indented comments (a JSON answer) or in any comment (text, such as a CSV's first lines); or
  else, for a block's last command, the `json` block right after the `sh` block. An ellipsis
  stands for what is left out. Other comments describe the next command.
- Without a documented status an example must succeed (2xx).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ELLIPSES = ("…", "...")
FENCE = re.compile(r"^```(\w*)\s*$")
ANSWER_START = re.compile(r"^#\s*(?:(?P<status>[1-5]\d\d)\b\s*(?P<rest>.*)|(?P<json>[{\[].*))$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
EXPORT = re.compile(r"^export\s+(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>'[^']*'|\"[^\"]*\"|\S*)\s*(?:#.*)?$")
ASSIGNMENT = re.compile(r"^\s*(?P<name>[A-Z_][A-Z0-9_]*)=\$\(")
VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")
METHOD = re.compile(r"(?:^|\s)-X\s*([A-Z]+)")
URL_PATH = re.compile(r"\$\{?CH\}?(/[^\s\"'?]*)")
OUTPUT_FILE = re.compile(r"(?:^|\s)(?:-o|--output)\s+(\S+)")
# Keys of a documented answer whose shown values hold in every run (ids, times, URLs and the
# figures of an example report do not), compared with the real answer wherever they appear in it.
CHECKED_KEYS = frozenset(
    {
        "object", "status", "type", "code", "param", "slug", "name", "is_active", "mode", "currency",
        "amount_authorized", "amount_captured", "amount_refunded", "amount_refund_pending", "amount_refundable",
        "capture", "brand", "last4", "exp_month", "exp_year", "reference", "gateway", "kind", "action", "value",
        "reason", "expires_at", "authentication", "payment_method_type", "account_type", "routing_last4", "email",
        "default_payment_method", "is_default", "payment_status", "entitled", "report", "group_by", "has_more",
        "previous", "livemode", "interval", "quantity", "return_url", "revoked", "cancel_at_period_end",
    }
)  # fmt: skip
PAIR = re.compile(r'"(?P<key>[a-z_0-9]+)":\s*(?P<value>"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')


@dataclass(frozen=True)
class Example:
    line: int  # where the command starts in the docs, for messages
    command: str  # as printed
    status: int | None = None  # as documented; None: a success of any kind
    answer: str = ""  # as documented, "" when none is shown

    @property
    def method(self) -> str:
        found = METHOD.search(self.command)
        if found:
            return found.group(1)
        return "POST" if re.search(r"(?:^|\s)(-d|--data\S*|--json)\s", self.command) else "GET"

    @property
    def path(self) -> str:
        found = URL_PATH.search(self.command)
        return found.group(1) if found else ""

    @property
    def route(self) -> str:
        """`POST /api/v1/payments/$PAYMENT_ID/capture`: the call, its variables not expanded."""
        return f"{self.method} {self.path}"

    @property
    def assigns(self) -> str | None:
        found = ASSIGNMENT.match(self.command)
        return found.group("name") if found else None

    @property
    def variables(self) -> set[str]:
        return set(VARIABLE.findall(self.command))

    @property
    def output_file(self) -> str | None:
        found = OUTPUT_FILE.search(self.command)
        return found.group(1) if found else None

    def with_answer(self, status: int | None, answer: str) -> Example:
        return Example(self.line, self.command, status, answer)


@dataclass
class ApiDoc:
    settings: dict[str, str] = field(default_factory=dict)  # the "set these first" exports, as printed
    examples: list[Example] = field(default_factory=list)

    @property
    def placeholders(self) -> set[str]:
        """The settings the reader fills in (their printed value has an ellipsis)."""
        return {name for name, value in self.settings.items() if any(mark in value for mark in ELLIPSES)}


def _blocks(text: str) -> list[tuple[str, int, list[str], int]]:
    """Fenced blocks: (language, number of the first line, lines, number of the closing fence's line)."""
    blocks: list[tuple[str, int, list[str], int]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        blocks.append((opening.group(1), index + 2, lines[index + 1 : end], end + 1))
        index = end + 1
    return blocks


def _is_json(answer: str) -> bool:
    return answer.lstrip().startswith(("{", "["))


def _incomplete(command: str) -> bool:
    """Whether bash would read on: an open quote or `$(`, or a backslash at the end of the line."""
    quote = ""
    depth = 0
    index = 0
    while index < len(command):
        char = command[index]
        if char == "\\" and quote != "'":
            if index + 1 == len(command):
                return True
            index += 2
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif command.startswith("$(", index):
            depth += 1
            index += 1
        elif char == ")" and depth:
            depth -= 1
        index += 1
    return bool(quote) or depth > 0


def _commands(first_line: int, lines: list[str]) -> list[Example]:
    examples: list[Example] = []
    answer: list[str] | None = None  # the answer being read, of examples[-1]
    status: int | None = None
    after_command = False  # the previous line ended a command

    def close_answer() -> None:
        nonlocal answer
        if answer is not None:
            examples[-1] = examples[-1].with_answer(status, "\n".join(answer).strip())
            answer = None

    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("#") and answer is not None and (not _is_json(answer[0]) or re.match(r"#\s{2,}", line)):
            answer.append(line[1:].strip())  # a JSON answer goes on in indented comments, a text one in any
        elif line.startswith("#"):
            close_answer()
            start = ANSWER_START.match(line)
            if start and after_command:
                status = int(start.group("status")) if start.group("status") else None
                answer = [start.group("rest") or start.group("json") or ""]
        elif line:
            close_answer()
            command = [lines[index]]
            while _incomplete("\n".join(command)) and index + 1 < len(lines):
                index += 1
                command.append(lines[index])
            heredoc = HEREDOC.search("\n".join(command))
            while heredoc and index + 1 < len(lines):
                index += 1
                command.append(lines[index])
                if lines[index].strip() == heredoc.group(2):
                    break
            examples.append(Example(first_line + index + 1 - len(command), "\n".join(command)))
        else:
            close_answer()
        after_command = bool(line) and not line.startswith("#")
        index += 1
    close_answer()
    return examples


def parse(text: str) -> ApiDoc:
    doc = ApiDoc()
    blocks = _blocks(text)
    shell = [index for index, block in enumerate(blocks) if block[0] == "sh"]
    if not shell:
        return doc
    _, first_line, lines, _ = blocks[shell[0]]
    for offset, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        export = EXPORT.match(line.strip())
        if export is None:
            raise ValueError(f"line {first_line + offset}: the first sh block holds only `export NAME=value` lines")
        doc.settings[export.group("name")] = export.group("value")
    text_lines = text.splitlines()
    for position in shell[1:]:
        _, first_line, lines, closing = blocks[position]
        examples = _commands(first_line, lines)
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        documented = (
            following is not None
            and following[0] == "json"
            and not "".join(text_lines[closing : following[1] - 2]).strip()
        )
        if documented and following and examples and not examples[-1].answer:
            examples[-1] = examples[-1].with_answer(examples[-1].status, "\n".join(following[2]))
        doc.examples.extend(examples)
    return doc


def read(path: Path) -> ApiDoc:
    return parse(path.read_text(encoding="utf-8"))


# --- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    status: int | None  # the HTTP status of the (last) response, None when there was none
    stdout: str
    stderr: str
    env: dict[str, str]  # the shell's variables after the command


SCRIPT = """set -a -o pipefail
{command}
__example_exit=$?
env -0 > "$__EXAMPLE_ENV"
exit $__example_exit
"""


def run(example: Example, env: dict[str, str], workdir: Path, timeout: float = 30) -> Outcome:
    """Run the command as printed with bash and the real curl, in `workdir`, with `env`.

    curl also writes the response headers to a file of ours (a curlrc in CURL_HOME, so the command
    itself stays as printed): that is where the status comes from, whatever the command does with
    the body. Assignments are exported (set -a) so the next example sees them.
    """
    curl_home = workdir / ".curl"
    curl_home.mkdir(exist_ok=True)
    headers = curl_home / "headers"
    (curl_home / ".curlrc").write_text(f'dump-header = "{headers}"\n', encoding="utf-8")
    headers.unlink(missing_ok=True)
    env_file = curl_home / "env"
    shell_env = {**env, "CURL_HOME": str(curl_home), "__EXAMPLE_ENV": str(env_file)}
    result = subprocess.run(
        ["bash", "-c", SCRIPT.format(command=example.command)],
        cwd=workdir,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    after = dict(env)
    if env_file.exists():
        pairs = (item.split("=", 1) for item in env_file.read_text(encoding="utf-8").split("\0") if "=" in item)
        after = {name: value for name, value in pairs if not name.startswith("__") and name != "CURL_HOME"}
    dumped = headers.read_text(encoding="utf-8") if headers.exists() else ""
    final = [int(code) for code in re.findall(r"^HTTP/[\d.]+ (\d{3})", dumped, re.M) if not code.startswith("1")]
    return Outcome(result.returncode, final[-1] if final else None, result.stdout, result.stderr, after)


# --- checking an answer against the docs --------------------------------------------------------


def documented_pairs(answer: str) -> list[tuple[str, Any]]:
    """The checked keys' values shown in a documented JSON answer (those without an ellipsis)."""
    pairs: list[tuple[str, Any]] = []
    for found in PAIR.finditer(answer):
        if found.group("key") in CHECKED_KEYS and not any(mark in found.group("value") for mark in ELLIPSES):
            pairs.append((found.group("key"), json.loads(found.group("value"))))
    return pairs


def _all_pairs(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        found = [(key, item) for key, item in value.items() if not isinstance(item, dict | list)]
        for item in value.values():
            found.extend(_all_pairs(item))
        return found
    if isinstance(value, list):
        return [pair for item in value for pair in _all_pairs(item)]
    return []


def answer_problems(example: Example, body: str) -> list[str]:
    """What in the documented answer the real one (`body`) contradicts."""
    documented = example.answer
    if not documented or not body.strip():
        return []
    if _is_json(documented):
        try:
            real = json.loads(body)
        except ValueError:
            return [f"the answer is not JSON: {body[:300]!r}"]
        present = _all_pairs(real)
        return [
            f"documented {key}: {json.dumps(value)} is not in the answer"
            for key, value in documented_pairs(documented)
            if not any(k == key and type(v) is type(value) and v == value for k, v in present)
        ]
    shown = re.split(r"…|\.\.\.", documented.splitlines()[0])[0]
    real = body.splitlines()[0] if body.splitlines() else ""
    return [] if real.startswith(shown) else [f"answer starts {real[:200]!r}, documented {shown!r}"]
