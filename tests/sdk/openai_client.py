"""The real `openai` Python SDK against a switchyard gateway (run by tests/openai_sdk.rs).

usage: openai_client.py BASE_URL API_KEY
Exits non-zero with a message on the first mismatch.
"""

import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)

# Non-streaming, through an alias whose first target fails (503): the SDK sees one answer.
raw = client.chat.completions.with_raw_response.create(
    model="chat", messages=[{"role": "user", "content": "Hello"}], temperature=0.2
)
completion = raw.parse()
assert completion.choices[0].message.content == "Hello from backup-model", completion
assert completion.model == "backup-model", completion.model
assert raw.headers["x-switchyard-route"] == "backup/backup-model", dict(raw.headers)
assert raw.headers["x-switchyard-attempts"] == "2", dict(raw.headers)

# Streaming: deltas in order, then the iterator ends cleanly at [DONE].
stream = client.chat.completions.create(
    model="chat", messages=[{"role": "user", "content": "Hello"}], stream=True
)
parts = []
finish = None
for chunk in stream:
    if chunk.choices:
        parts.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
assert "".join(parts) == "Hello from backup-model", parts
assert finish == "stop", finish

# `<provider>/<model>` names and the model list.
direct = client.chat.completions.create(model="backup/backup-model", messages=[{"role": "user", "content": "x"}])
assert direct.choices[0].message.content == "Hello from backup-model"
ids = sorted(m.id for m in client.models.list())
assert ids == ["backup/backup-model", "chat", "primary/primary-model"], ids

# Errors surface as the SDK's typed exceptions with our codes.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model did not raise")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e.body

try:
    openai.OpenAI(base_url=base, api_key="bd-0000000000000000000000000000000000000000", max_retries=0).models.list()
    raise SystemExit("bad key did not raise")
except openai.AuthenticationError as e:
    assert e.status_code == 401

print("openai SDK", openai.__version__, "OK")
