"""Reading policy YAML safely while keeping where everything was written.

The file is parsed once into PyYAML's node tree (which carries line marks) and the data is
built from that same tree, so an error pydantic reports at a location such as
``("codes", 1, "max_occurrence_s")`` can be walked back to the line a person has to edit.
Only the safe loader is used: a policy file must never be able to build Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from auxstream.policy.errors import PolicyError

MAX_NODES = 100_000
"""More YAML nodes than this (after expanding aliases) is not a policy but an alias bomb."""

_STR_TAG = "tag:yaml.org,2002:str"
# Scalars YAML 1.1 would turn into numbers, booleans or dates: ``code: 12`` (an Avaya AUX
# reason code), ``code: NO`` or ``label: Off`` must stay exactly the text the ACD sends.
_RETYPED_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "timestamp")
)

Loc = Sequence[str | int]


def read_yaml(text: str, source_name: str) -> tuple[yaml.Node, object]:
    """Parse one YAML document into (node tree, plain data); PolicyError for anything wrong."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if root is None:
            raise PolicyError(f"{source_name}: the file is empty; a policy needs timezone and more")
        _check_size(root, source_name)
        _keep_codes_as_written(root)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source_name}:{mark.line + 1}" if mark is not None else source_name
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        raise PolicyError(f"{where}: not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line_number = text[: exc.position].count("\n") + 1
        character = (
            f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        )
        raise PolicyError(
            f"{source_name}:{line_number}: not valid YAML: character {character} is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source_name}: not valid YAML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source_name}: not a policy: the YAML is nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML lets a few constructor errors through unwrapped, e.g. the date 2024-02-30.
        raise PolicyError(f"{source_name}: not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return root, data


def line_of(root: yaml.Node, loc: Loc) -> int:
    """The 1-based line of the deepest part of ``loc`` that exists in the file.

    A key that is there (an unknown field, a bad value) gives the key's line; a key that
    is missing gives the line of the entry that should have had it.
    """
    node = root
    line = root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = _find_pair(node, part)
            if pair is None:
                break
            key_node, node = pair
            line = key_node.start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _find_pair(node: yaml.MappingNode, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """The last pair with this key (the one the constructor kept, as with duplicate keys)."""
    found = None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
            found = (key_node, value_node)
    return found


def _check_size(root: yaml.Node, source_name: str) -> None:
    """Refuse repeated keys, self-referencing aliases and alias bombs before anything
    walks the data (the sizes are memoised, so an alias bomb is measured, not expanded)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise PolicyError(
                f"{source_name}:{node.start_mark.line + 1}: not a policy: an alias refers to itself"
            )
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, source_name)
            children = [part for pair in node.value for part in pair]
        total = min(MAX_NODES + 1, 1 + sum(size(child) for child in children))
        active.discard(key)
        sizes[key] = total
        return total

    if size(root) > MAX_NODES:
        raise PolicyError(
            f"{source_name}: not a policy: more than {MAX_NODES} YAML values "
            "(after expanding aliases)"
        )


def _check_unique_keys(node: yaml.MappingNode, source_name: str) -> None:
    """YAML loaders keep the last of two equal keys; in a policy that hides a whole section."""
    first_line: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first_line:
            raise PolicyError(
                f"{source_name}:{line}: {key_node.value}: this key appears twice in one mapping "
                f"(first on line {first_line[key_node.value]}); keep one"
            )
        first_line[key_node.value] = line


def _keep_codes_as_written(root: yaml.Node) -> None:
    """Make codes, labels and team names strings exactly as typed (``12`` stays "12")."""
    if not isinstance(root, yaml.MappingNode):
        return
    _as_written(_value(root, "after_contact_code"))
    _entries_as_written(_value(root, "codes"))
    teams = _value(root, "teams")
    if isinstance(teams, yaml.MappingNode):
        for team_key, team in teams.value:
            _as_written(team_key)
            if isinstance(team, yaml.MappingNode):
                _entries_as_written(_value(team, "codes"))


def _entries_as_written(codes: yaml.Node | None) -> None:
    if isinstance(codes, yaml.SequenceNode):
        for entry in codes.value:
            if isinstance(entry, yaml.MappingNode):
                _as_written(_value(entry, "code"))
                _as_written(_value(entry, "label"))


def _value(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    pair = _find_pair(node, key)
    return None if pair is None else pair[1]


def _as_written(node: yaml.Node | None) -> None:
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in _RETYPED_TAGS:
        node.tag = _STR_TAG
