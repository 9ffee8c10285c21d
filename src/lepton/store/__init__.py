"""Storage: the metadata database (SQLAlchemy) and the artifact store (local folder or S3)."""

from lepton.store._artifacts import (
    ArtifactStore,
    LocalArtifactStore,
    ObjectInfo,
    check_key,
    open_artifact_store,
)
from lepton.store._metadata import MetadataStore

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "MetadataStore",
    "ObjectInfo",
    "check_key",
    "open_artifact_store",
]
