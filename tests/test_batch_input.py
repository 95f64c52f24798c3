"""The batch prompts file: validated as a whole, errors with line numbers, deterministic shards."""

import pytest

from intermask.intermask_blender import batch_input


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_jsonl_errors_name_their_lines_and_valid_lines_survive(tmp_path):
    path = write(tmp_path, "p.jsonl", "\n".join([
        '{"prompt": "two people shake hands", "seconds": 3, "seed": 7}',
        '',
        '{"prompt": "hug", "seconds": 40}',
        'not json',
        '{"prompt": "wave", "colour": "red"}',
        '{"prompt": "   "}',
        '{"prompt": "bow", "candidates": 2.5}',
        '{"prompt": "push", "name": "a/b"}',
        '{"prompt": "high five", "name": "five"}',
        '{"prompt": "fist bump", "name": "five"}',
    ]))
    items, errors = batch_input.read(path)
    assert [i.line for i in items] == [1, 9]
    assert items[0].name == "0001-two-people-shake-hands" and items[0].seconds == 3.0 and items[0].seed == 7
    expected = {3: "'seconds' is 40.0; allowed 1.0 to 10.0", 4: "not valid JSON", 5: "unknown field(s) 'colour'",
                6: "'prompt' is missing or empty", 7: "'candidates' must be an integer", 8: "'name'",
                10: "already used by line 9"}
    assert len(errors) == len(expected)
    for error, (line, text) in zip(errors, expected.items()):
        assert error.startswith(f"p.jsonl line {line}: ") and text in error, error


def test_csv_with_the_same_rules(tmp_path):
    path = write(tmp_path, "p.csv", "prompt,seconds,seed,name\n"
                                    "two people hug,4,1,hug\n"
                                    "\"one, then the other, bows\",2,,\n"
                                    "wave,0.5,1,\n"
                                    "clap,2,1,x,extra\n")
    items, errors = batch_input.read(path)
    assert [(i.line, i.name, i.seed) for i in items] == [(2, "hug", 1), (3, "0003-one-then-the-other-bows", 0)]
    assert errors[0].startswith("p.csv line 4: 'seconds'") and errors[1].startswith("p.csv line 5:")


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_items(tmp_path, count):
    path = write(tmp_path, "p.jsonl", "\n".join(f'{{"prompt": "take {k}"}}' for k in range(20)))
    items, _ = batch_input.read(path)
    shards = [batch_input.shard(items, i, count) for i in range(1, count + 1)]
    names = [it.name for s in shards for it in s]
    assert sorted(names) == sorted(it.name for it in items) and len(set(names)) == len(names)
    assert shards == [batch_input.shard(batch_input.read(path)[0], i, count) for i in range(1, count + 1)]
    with pytest.raises(ValueError):
        batch_input.shard(items, 0, count)
