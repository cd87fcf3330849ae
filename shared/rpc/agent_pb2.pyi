from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SourceModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_MODEL_UNSPECIFIED: _ClassVar[SourceModel]
    SOURCE_MODEL_RTSP: _ClassVar[SourceModel]
    SOURCE_MODEL_PICTURE: _ClassVar[SourceModel]

class PictureAuth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PICTURE_AUTH_NONE: _ClassVar[PictureAuth]
    PICTURE_AUTH_BASIC: _ClassVar[PictureAuth]
    PICTURE_AUTH_DIGEST: _ClassVar[PictureAuth]

class RecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_STATUS_UNSPECIFIED: _ClassVar[RecordStatus]
    RECORD_STATUS_PENDING: _ClassVar[RecordStatus]
    RECORD_STATUS_RECORDING: _ClassVar[RecordStatus]
    RECORD_STATUS_STOPPING: _ClassVar[RecordStatus]
    RECORD_STATUS_COMPLETED: _ClassVar[RecordStatus]
    RECORD_STATUS_FAILED: _ClassVar[RecordStatus]
    RECORD_STATUS_INTERRUPTED: _ClassVar[RecordStatus]
    RECORD_STATUS_DELETED: _ClassVar[RecordStatus]
SOURCE_MODEL_UNSPECIFIED: SourceModel
SOURCE_MODEL_RTSP: SourceModel
SOURCE_MODEL_PICTURE: SourceModel
PICTURE_AUTH_NONE: PictureAuth
PICTURE_AUTH_BASIC: PictureAuth
PICTURE_AUTH_DIGEST: PictureAuth
RECORD_STATUS_UNSPECIFIED: RecordStatus
RECORD_STATUS_PENDING: RecordStatus
RECORD_STATUS_RECORDING: RecordStatus
RECORD_STATUS_STOPPING: RecordStatus
RECORD_STATUS_COMPLETED: RecordStatus
RECORD_STATUS_FAILED: RecordStatus
RECORD_STATUS_INTERRUPTED: RecordStatus
RECORD_STATUS_DELETED: RecordStatus

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AgentInfo(_message.Message):
    __slots__ = ("name", "version", "capacity", "active_records", "disk_free_bytes", "disk_total_bytes", "storage_root")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ROOT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    capacity: int
    active_records: int
    disk_free_bytes: int
    disk_total_bytes: int
    storage_root: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., capacity: _Optional[int] = ..., active_records: _Optional[int] = ..., disk_free_bytes: _Optional[int] = ..., disk_total_bytes: _Optional[int] = ..., storage_root: _Optional[str] = ...) -> None: ...

class HttpPicture(_message.Message):
    __slots__ = ("uri", "auth", "user", "password")
    URI_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    uri: str
    auth: PictureAuth
    user: str
    password: str
    def __init__(self, uri: _Optional[str] = ..., auth: _Optional[_Union[PictureAuth, str]] = ..., user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class SourceSpec(_message.Message):
    __slots__ = ("id", "model", "uri_rtsp", "picture", "ffmpeg_cmd", "assigned")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    URI_RTSP_FIELD_NUMBER: _ClassVar[int]
    PICTURE_FIELD_NUMBER: _ClassVar[int]
    FFMPEG_CMD_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: SourceModel
    uri_rtsp: str
    picture: HttpPicture
    ffmpeg_cmd: str
    assigned: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[_Union[SourceModel, str]] = ..., uri_rtsp: _Optional[str] = ..., picture: _Optional[_Union[HttpPicture, _Mapping]] = ..., ffmpeg_cmd: _Optional[str] = ..., assigned: _Optional[str] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: SourceSpec
    def __init__(self, source: _Optional[_Union[SourceSpec, _Mapping]] = ...) -> None: ...

class LiveFramesRequest(_message.Message):
    __slots__ = ("source", "interval_s")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    source: SourceSpec
    interval_s: float
    def __init__(self, source: _Optional[_Union[SourceSpec, _Mapping]] = ..., interval_s: _Optional[float] = ...) -> None: ...

class LiveStreamRequest(_message.Message):
    __slots__ = ("source", "over_http")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OVER_HTTP_FIELD_NUMBER: _ClassVar[int]
    source: SourceSpec
    over_http: bool
    def __init__(self, source: _Optional[_Union[SourceSpec, _Mapping]] = ..., over_http: _Optional[bool] = ...) -> None: ...

class MediaPiece(_message.Message):
    __slots__ = ("data", "init", "codecs", "keyframe", "wallclock_unix", "status", "http_ticket")
    DATA_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    CODECS_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_FIELD_NUMBER: _ClassVar[int]
    WALLCLOCK_UNIX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HTTP_TICKET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    init: bool
    codecs: str
    keyframe: bool
    wallclock_unix: float
    status: str
    http_ticket: str
    def __init__(self, data: _Optional[bytes] = ..., init: _Optional[bool] = ..., codecs: _Optional[str] = ..., keyframe: _Optional[bool] = ..., wallclock_unix: _Optional[float] = ..., status: _Optional[str] = ..., http_ticket: _Optional[str] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("jpeg", "captured_unix")
    JPEG_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_UNIX_FIELD_NUMBER: _ClassVar[int]
    jpeg: bytes
    captured_unix: float
    def __init__(self, jpeg: _Optional[bytes] = ..., captured_unix: _Optional[float] = ...) -> None: ...

class TestImageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TestVideoRequest(_message.Message):
    __slots__ = ("frames", "interval_s")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    frames: int
    interval_s: float
    def __init__(self, frames: _Optional[int] = ..., interval_s: _Optional[float] = ...) -> None: ...

class StartRecordRequest(_message.Message):
    __slots__ = ("record_id", "tag_name", "source")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    tag_name: str
    source: SourceSpec
    def __init__(self, record_id: _Optional[str] = ..., tag_name: _Optional[str] = ..., source: _Optional[_Union[SourceSpec, _Mapping]] = ...) -> None: ...

class StopRecordRequest(_message.Message):
    __slots__ = ("record_id", "wait")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    wait: bool
    def __init__(self, record_id: _Optional[str] = ..., wait: _Optional[bool] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("start_unix", "end_unix", "reason", "detail")
    START_UNIX_FIELD_NUMBER: _ClassVar[int]
    END_UNIX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    start_unix: float
    end_unix: float
    reason: str
    detail: str
    def __init__(self, start_unix: _Optional[float] = ..., end_unix: _Optional[float] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class RecordState(_message.Message):
    __slots__ = ("record_id", "tag_name", "source_id", "status", "begin_unix", "end_unix", "location", "hash_md5", "size_bytes", "duration_s", "error", "gaps", "updated_unix")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BEGIN_UNIX_FIELD_NUMBER: _ClassVar[int]
    END_UNIX_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HASH_MD5_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    tag_name: str
    source_id: int
    status: RecordStatus
    begin_unix: float
    end_unix: float
    location: str
    hash_md5: str
    size_bytes: int
    duration_s: float
    error: str
    gaps: _containers.RepeatedCompositeFieldContainer[Gap]
    updated_unix: float
    def __init__(self, record_id: _Optional[str] = ..., tag_name: _Optional[str] = ..., source_id: _Optional[int] = ..., status: _Optional[_Union[RecordStatus, str]] = ..., begin_unix: _Optional[float] = ..., end_unix: _Optional[float] = ..., location: _Optional[str] = ..., hash_md5: _Optional[str] = ..., size_bytes: _Optional[int] = ..., duration_s: _Optional[float] = ..., error: _Optional[str] = ..., gaps: _Optional[_Iterable[_Union[Gap, _Mapping]]] = ..., updated_unix: _Optional[float] = ...) -> None: ...

class FileRef(_message.Message):
    __slots__ = ("record_id", "location")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    location: str
    def __init__(self, record_id: _Optional[str] = ..., location: _Optional[str] = ...) -> None: ...

class FileStat(_message.Message):
    __slots__ = ("size", "growing", "content_type", "hash_md5")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    GROWING_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HASH_MD5_FIELD_NUMBER: _ClassVar[int]
    size: int
    growing: bool
    content_type: str
    hash_md5: str
    def __init__(self, size: _Optional[int] = ..., growing: _Optional[bool] = ..., content_type: _Optional[str] = ..., hash_md5: _Optional[str] = ...) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("file", "offset", "length", "chunk_size")
    FILE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    file: FileRef
    offset: int
    length: int
    chunk_size: int
    def __init__(self, file: _Optional[_Union[FileRef, _Mapping]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class DeleteFileResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class WriteFileHeader(_message.Message):
    __slots__ = ("record_id", "path", "size", "hash_md5", "resume_offset")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    HASH_MD5_FIELD_NUMBER: _ClassVar[int]
    RESUME_OFFSET_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    path: str
    size: int
    hash_md5: str
    resume_offset: int
    def __init__(self, record_id: _Optional[str] = ..., path: _Optional[str] = ..., size: _Optional[int] = ..., hash_md5: _Optional[str] = ..., resume_offset: _Optional[int] = ...) -> None: ...

class WriteFileChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: WriteFileHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[WriteFileHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class WriteFileResult(_message.Message):
    __slots__ = ("location", "hash_md5", "size")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HASH_MD5_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    location: str
    hash_md5: str
    size: int
    def __init__(self, location: _Optional[str] = ..., hash_md5: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class PullFileRequest(_message.Message):
    __slots__ = ("header", "url", "bandwidth_bps")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_BPS_FIELD_NUMBER: _ClassVar[int]
    header: WriteFileHeader
    url: str
    bandwidth_bps: int
    def __init__(self, header: _Optional[_Union[WriteFileHeader, _Mapping]] = ..., url: _Optional[str] = ..., bandwidth_bps: _Optional[int] = ...) -> None: ...

class PullFileProgress(_message.Message):
    __slots__ = ("resumed_from", "fetched", "result")
    RESUMED_FROM_FIELD_NUMBER: _ClassVar[int]
    FETCHED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    resumed_from: int
    fetched: int
    result: WriteFileResult
    def __init__(self, resumed_from: _Optional[int] = ..., fetched: _Optional[int] = ..., result: _Optional[_Union[WriteFileResult, _Mapping]] = ...) -> None: ...

class StartRecordsRequest(_message.Message):
    __slots__ = ("records", "wait_s")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[StartRecordRequest]
    wait_s: float
    def __init__(self, records: _Optional[_Iterable[_Union[StartRecordRequest, _Mapping]]] = ..., wait_s: _Optional[float] = ...) -> None: ...

class StartRecordResult(_message.Message):
    __slots__ = ("record_id", "state", "error_code", "error", "opened")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    state: RecordState
    error_code: int
    error: str
    opened: bool
    def __init__(self, record_id: _Optional[str] = ..., state: _Optional[_Union[RecordState, _Mapping]] = ..., error_code: _Optional[int] = ..., error: _Optional[str] = ..., opened: _Optional[bool] = ...) -> None: ...

class StartRecordsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[StartRecordResult]
    def __init__(self, results: _Optional[_Iterable[_Union[StartRecordResult, _Mapping]]] = ...) -> None: ...

class ListJournalRequest(_message.Message):
    __slots__ = ("changed_since_unix", "after_record_id", "limit")
    CHANGED_SINCE_UNIX_FIELD_NUMBER: _ClassVar[int]
    AFTER_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    changed_since_unix: float
    after_record_id: str
    limit: int
    def __init__(self, changed_since_unix: _Optional[float] = ..., after_record_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class JournalRecord(_message.Message):
    __slots__ = ("state", "model", "uri_rtsp", "picture_uri")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    URI_RTSP_FIELD_NUMBER: _ClassVar[int]
    PICTURE_URI_FIELD_NUMBER: _ClassVar[int]
    state: RecordState
    model: SourceModel
    uri_rtsp: str
    picture_uri: str
    def __init__(self, state: _Optional[_Union[RecordState, _Mapping]] = ..., model: _Optional[_Union[SourceModel, str]] = ..., uri_rtsp: _Optional[str] = ..., picture_uri: _Optional[str] = ...) -> None: ...

class ListJournalResponse(_message.Message):
    __slots__ = ("records", "more")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[JournalRecord]
    more: bool
    def __init__(self, records: _Optional[_Iterable[_Union[JournalRecord, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...
