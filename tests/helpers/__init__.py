"""What the tests share, in one importable place: `from tests.helpers.<module> import ...`.

    paths     the repository's root and its example data
    specs     checking .mix text in-process
    jobs      runtime job-file builders and runners (tokenizer, tokenize, train)
    mixtures  synthetic runs with a known mixing law

Fixtures stay in each folder's conftest.py; nothing here is a fixture.
"""
