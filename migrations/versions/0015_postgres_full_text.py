"""PostgreSQL full-text search: text search configurations, documents and vocabulary

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:00:00

PostgreSQL only (portal/search/postgres_backend.py, PORTAL_SEARCH_BACKEND=postgresql);
on SQLite this revision does nothing. The extensions unaccent and pg_trgm come with
PostgreSQL (Debian's postgresql package); creating them needs a role allowed to
(README.md, Deployment shapes).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# Each portal language's configuration: a copy of PostgreSQL's, with unaccent before
# the stemmer (or before "simple", for the languages PostgreSQL has no stemmer for).
CONFIGURATIONS = {"es": ("spanish", "spanish_stem"), "en": ("english", "english_stem"),
                  "gl": ("portuguese", "portuguese_stem"), "ca": ("simple", "simple"),
                  "eu": ("simple", "simple")}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for language, (parent, dictionary) in CONFIGURATIONS.items():
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION portal_{language} (COPY = {parent})")
        op.execute(f"ALTER TEXT SEARCH CONFIGURATION portal_{language} ALTER MAPPING FOR "
                   f"hword, hword_part, word "
                   f"WITH unaccent, {dictionary}")
    op.execute("""
        CREATE TABLE search_documents (
            doc_id varchar(64) PRIMARY KEY,
            kind varchar(16) NOT NULL,
            locale varchar(8) NOT NULL,
            title text NOT NULL,
            summary text NOT NULL,
            body text NOT NULL,
            url text NOT NULL,
            department varchar(100) NOT NULL,
            tags text[] NOT NULL,
            published_at timestamptz,
            words text[] NOT NULL,
            search tsvector NOT NULL,
            heading tsvector NOT NULL
        )""")
    op.execute("CREATE INDEX ix_search_documents_search ON search_documents USING gin (search)")
    # Title and summary alone: the first matches ranked when a word is very common.
    op.execute("CREATE INDEX ix_search_documents_heading ON search_documents "
               "USING gin (heading)")
    op.execute("""
        CREATE TABLE search_vocabulary (
            word text PRIMARY KEY,
            documents integer NOT NULL
        )""")
    op.execute("CREATE INDEX ix_search_vocabulary_trigrams ON search_vocabulary "
               "USING gin (word gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE search_vocabulary")
    op.execute("DROP TABLE search_documents")
    for language in CONFIGURATIONS:
        op.execute(f"DROP TEXT SEARCH CONFIGURATION portal_{language}")
    # The extensions stay: other schemas of the database may use them.
