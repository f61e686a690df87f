"""Every audit action the hub's code writes by a fixed name, so that writers and readers (queries,
reviews, subject access) use one constant rather than a string typed twice. An entry's action
is `<resource>.<verb>`; a disclosure to another organisation is `disclosure` whatever was read.

A few actions are composed where they are written (`<kind>.read` of a record kind passed along
by the caller); they follow the same pattern.
"""

#: A record (or some of its fields) shown to another organisation under an agreement.
DISCLOSURE = "disclosure"
#: Every step of an advisory request (`advisory.submit`, `advisory.answer`, ...) starts so.
ADVISORY_PREFIX = "advisory."


ADVISORY_ANSWER = "advisory.answer"
ADVISORY_DECLINE = "advisory.decline"
ADVISORY_ROUTE = "advisory.route"
ADVISORY_SUBMIT = "advisory.submit"
ADVISORY_WITHDRAW = "advisory.withdraw"

AGREEMENT_ACTIVATE = "agreement.activate"
AGREEMENT_AMEND = "agreement.amend"
AGREEMENT_APPROVE = "agreement.approve"
AGREEMENT_CREATE = "agreement.create"
AGREEMENT_PROPOSE = "agreement.propose"
AGREEMENT_READ = "agreement.read"
AGREEMENT_RECORD_OF_PROCESSING = "agreement.record_of_processing"
AGREEMENT_RESUME = "agreement.resume"
AGREEMENT_SUSPEND = "agreement.suspend"
AGREEMENT_TERMINATE = "agreement.terminate"
AGREEMENT_UPDATE = "agreement.update"

API_ACCESS = "api.access"

ASSERTION_CORRECTION_NOTIFIED = "assertion.correction_notified"
ASSERTION_CREATE = "assertion.create"
ASSERTION_READ = "assertion.read"

ASSESSMENT_UPDATE = "assessment.update"

AUDIT_COSIGNATURE = "audit.cosignature"
AUDIT_EXPORT = "audit.export"
AUDIT_FILTER_DELETE = "audit.filter.delete"
AUDIT_FILTER_SAVE = "audit.filter.save"
AUDIT_FLAG_REVIEW = "audit.flag.review"
AUDIT_READ = "audit.read"
AUDIT_REVIEW = "audit.review"
AUDIT_VERIFY = "audit.verify"
AUDIT_WITNESS_REGISTER = "audit.witness.register"
AUDIT_WITNESS_REVOKE = "audit.witness.revoke"

EVENT_IMPORT = "event.import"
EVENT_READ = "event.read"

FEDERATION_PEER_ADD = "federation.peer.add"
FEDERATION_PEER_CLIENT = "federation.peer.client"
FEDERATION_PEER_ROTATE = "federation.peer.rotate"
FEDERATION_PEER_UPDATE = "federation.peer.update"
FEDERATION_PEER_SEARCH = "federation.peer_search"
FEDERATION_SEARCH = "federation.search"
FEDERATION_WITNESS = "federation.witness"

GROUP_ATTENDEE_ADD = "group.attendee.add"
GROUP_ATTENDEE_REMOVE = "group.attendee.remove"
GROUP_CONVENOR_CHANGE = "group.convenor.change"
GROUP_CREATE = "group.create"
GROUP_INVITE = "group.invite"
GROUP_LEAVE = "group.leave"
GROUP_MEMBER_REMOVE = "group.member.remove"
GROUP_UPDATE = "group.update"

IDENTITY_PROVIDER_CONFIGURE = "identity_provider.configure"
IDENTITY_PROVIDER_REMOVE = "identity_provider.remove"

MFA_ENROL = "mfa.enrol"
MFA_REAUTHENTICATE = "mfa.reauthenticate"

NOTIFICATION_LIST = "notification.list"
NOTIFICATION_READ = "notification.read"

OAUTH_REVOKE = "oauth.revoke"
OAUTH_TOKEN = "oauth.token"

OAUTH_CLIENT_CREATE = "oauth_client.create"
OAUTH_CLIENT_READ = "oauth_client.read"
OAUTH_CLIENT_ROTATE = "oauth_client.rotate"

ORGANISATION_CREATE = "organisation.create"
ORGANISATION_UPDATE = "organisation.update"

PERSON_CREATE = "person.create"
PERSON_ENROLMENT_LINK = "person.enrolment_link"
PERSON_PASSWORD_SET = "person.password.set"
PERSON_ROLES_CHANGE = "person.roles.change"
PERSON_UNLOCK = "person.unlock"
PERSON_UPDATE = "person.update"

PURGE_EVENT = "purge.event"
PURGE_RUN = "purge.run"
PURGE_SPEAKER = "purge.speaker"

REGION_DASHBOARD_READ = "region.dashboard.read"

RETURNS_READ = "returns.read"

SIGN_IN_OIDC_START = "sign_in.oidc.start"
SIGN_IN_PASSWORD = "sign_in.password"

SIGN_OUT = "sign_out"

SPEAKER_CORRECTION_NOTIFIED = "speaker.correction_notified"
SPEAKER_CREATE = "speaker.create"
SPEAKER_ERASURE_NOTIFIED = "speaker.erasure_notified"
SPEAKER_IMPORT = "speaker.import"
SPEAKER_MERGE = "speaker.merge"
SPEAKER_READ = "speaker.read"
SPEAKER_SEARCH = "speaker.search"
SPEAKER_UPDATE = "speaker.update"

SUBJECT_ACCESS_PREPARE = "subject_access.prepare"
SUBJECT_ACCESS_REQUEST_CLOSE = "subject_access.request.close"
SUBJECT_ACCESS_REQUEST_LINK = "subject_access.request.link"
SUBJECT_ACCESS_REQUEST_RECORD = "subject_access.request.record"

WEBHOOK_READ = "webhook.read"
WEBHOOK_SUBSCRIBE = "webhook.subscribe"
WEBHOOK_WITHDRAW = "webhook.withdraw"

GROUP_READ = "group.read"

MEETING_AGENDA_ADD = "meeting.agenda.add"
MEETING_AGENDA_REMOVE = "meeting.agenda.remove"
MEETING_APOLOGIES = "meeting.apologies"
MEETING_ATTENDANCE_RECORD = "meeting.attendance.record"
MEETING_CALENDAR = "meeting.calendar"
MEETING_CANCEL = "meeting.cancel"
MEETING_CREATE = "meeting.create"
MEETING_DECISION_RECORD = "meeting.decision.record"
MEETING_DIGEST_SEND = "meeting.digest.send"
MEETING_MINUTES_AMEND = "meeting.minutes.amend"
MEETING_MINUTES_APPROVE = "meeting.minutes.approve"
MEETING_MINUTES_CIRCULATE = "meeting.minutes.circulate"
MEETING_MINUTES_DRAFT = "meeting.minutes.draft"
MEETING_READ = "meeting.read"
MEETING_UPDATE = "meeting.update"

#: Each action in words, as the review pages name it (the filter's choices, the list, an
#: entry's title). An action not named here is put into words from its name: see `in_words`.
WORDS = {
    DISCLOSURE: "Disclosure to another organisation",
    ADVISORY_ANSWER: "Advisory request answered",
    ADVISORY_DECLINE: "Advisory request declined",
    ADVISORY_ROUTE: "Advisory request routed to the police",
    ADVISORY_SUBMIT: "Advisory request sent",
    ADVISORY_WITHDRAW: "Advisory request withdrawn",
    AGREEMENT_ACTIVATE: "Agreement came into force",
    AGREEMENT_AMEND: "Agreement amended",
    AGREEMENT_APPROVE: "Agreement approved",
    AGREEMENT_CREATE: "Agreement drafted",
    AGREEMENT_PROPOSE: "Agreement proposed",
    AGREEMENT_READ: "Agreement viewed",
    AGREEMENT_RECORD_OF_PROCESSING: "Record of processing downloaded",
    AGREEMENT_RESUME: "Agreement suspension lifted",
    AGREEMENT_SUSPEND: "Agreement suspended",
    AGREEMENT_TERMINATE: "Agreement terminated",
    AGREEMENT_UPDATE: "Agreement draft changed",
    API_ACCESS: "Partner system call",
    ASSERTION_CORRECTION_NOTIFIED: "Partners told of a corrected statement",
    ASSERTION_CREATE: "Statement about a speaker added",
    ASSERTION_READ: "Statement about a speaker viewed",
    ASSESSMENT_UPDATE: "Event risk assessment changed",
    AUDIT_COSIGNATURE: "Checkpoint cosigned by a witness",
    AUDIT_EXPORT: "Audit log downloaded",
    AUDIT_FILTER_DELETE: "Saved audit filter deleted",
    AUDIT_FILTER_SAVE: "Audit filter saved",
    AUDIT_FLAG_REVIEW: "Unusual-access flag marked reviewed",
    AUDIT_READ: "Audit log read by a partner system",
    AUDIT_REVIEW: "Audit log reviewed",
    AUDIT_VERIFY: "Audit log verified",
    AUDIT_WITNESS_REGISTER: "Audit witness registered",
    AUDIT_WITNESS_REVOKE: "Audit witness revoked",
    EVENT_IMPORT: "Events imported",
    EVENT_READ: "Event viewed",
    FEDERATION_PEER_ADD: "Peer hub added",
    FEDERATION_PEER_CLIENT: "Peer hub's client issued",
    FEDERATION_PEER_ROTATE: "Peer hub's key rotated",
    FEDERATION_PEER_UPDATE: "Peer hub changed",
    FEDERATION_PEER_SEARCH: "Search by a peer hub",
    FEDERATION_SEARCH: "Search across peer hubs",
    FEDERATION_WITNESS: "Peer hub's log witnessed",
    GROUP_ATTENDEE_ADD: "Working group attendee added",
    GROUP_ATTENDEE_REMOVE: "Working group attendee removed",
    GROUP_CONVENOR_CHANGE: "Working group convenor changed",
    GROUP_CREATE: "Working group created",
    GROUP_INVITE: "Organisation invited to a working group",
    GROUP_LEAVE: "Organisation left a working group",
    GROUP_MEMBER_REMOVE: "Organisation removed from a working group",
    GROUP_READ: "Working group viewed",
    GROUP_UPDATE: "Working group changed",
    IDENTITY_PROVIDER_CONFIGURE: "Sign-in provider configured",
    IDENTITY_PROVIDER_REMOVE: "Sign-in provider removed",
    MEETING_AGENDA_ADD: "Meeting agenda item added",
    MEETING_AGENDA_REMOVE: "Meeting agenda item removed",
    MEETING_APOLOGIES: "Meeting apologies sent",
    MEETING_ATTENDANCE_RECORD: "Meeting attendance recorded",
    MEETING_CALENDAR: "Meeting calendar downloaded",
    MEETING_CANCEL: "Meeting cancelled",
    MEETING_CREATE: "Meeting arranged",
    MEETING_DECISION_RECORD: "Meeting decision recorded",
    MEETING_DIGEST_SEND: "Meeting digest sent",
    MEETING_MINUTES_AMEND: "Meeting minutes amended",
    MEETING_MINUTES_APPROVE: "Meeting minutes approved",
    MEETING_MINUTES_CIRCULATE: "Meeting minutes circulated",
    MEETING_MINUTES_DRAFT: "Meeting minutes drafted",
    MEETING_READ: "Meeting viewed",
    MEETING_UPDATE: "Meeting changed",
    MFA_ENROL: "Security code app set up",
    MFA_REAUTHENTICATE: "Security code asked again",
    NOTIFICATION_LIST: "Notifications listed",
    NOTIFICATION_READ: "Notification read",
    OAUTH_REVOKE: "Access token revoked",
    OAUTH_TOKEN: "Access token issued",
    OAUTH_CLIENT_CREATE: "Partner system registered",
    OAUTH_CLIENT_READ: "Partner system viewed",
    OAUTH_CLIENT_ROTATE: "Partner system's key rotated",
    ORGANISATION_CREATE: "Organisation added",
    ORGANISATION_UPDATE: "Organisation changed",
    PERSON_CREATE: "Person added",
    PERSON_ENROLMENT_LINK: "Enrolment link issued",
    PERSON_PASSWORD_SET: "Password set",
    PERSON_ROLES_CHANGE: "Person's roles changed",
    PERSON_UNLOCK: "Sign-in lock lifted",
    PERSON_UPDATE: "Person changed",
    PURGE_EVENT: "Event deleted at the end of retention",
    PURGE_RUN: "Retention purge run",
    PURGE_SPEAKER: "Speaker deleted at the end of retention",
    REGION_DASHBOARD_READ: "Regional dashboard viewed",
    RETURNS_READ: "Annual returns viewed",
    SIGN_IN_OIDC_START: "Sign-in through a home organisation started",
    SIGN_IN_PASSWORD: "Sign-in with a password",
    SIGN_OUT: "Signed out",
    SPEAKER_CORRECTION_NOTIFIED: "Partners told of a corrected speaker record",
    SPEAKER_CREATE: "Speaker added",
    SPEAKER_ERASURE_NOTIFIED: "Partners told of an erased speaker record",
    SPEAKER_IMPORT: "Speakers imported",
    SPEAKER_MERGE: "Speaker records merged",
    SPEAKER_READ: "Speaker viewed",
    SPEAKER_SEARCH: "Speakers searched",
    SPEAKER_UPDATE: "Speaker changed",
    SUBJECT_ACCESS_PREPARE: "Subject access pack prepared",
    SUBJECT_ACCESS_REQUEST_CLOSE: "Subject access request closed",
    SUBJECT_ACCESS_REQUEST_LINK: "Subject access request linked to a speaker",
    SUBJECT_ACCESS_REQUEST_RECORD: "Subject access request recorded",
    WEBHOOK_READ: "Webhook subscriptions viewed",
    WEBHOOK_SUBSCRIBE: "Webhook subscribed",
    WEBHOOK_WITHDRAW: "Webhook withdrawn",
}

#: The verbs of actions that show someone records (with DISCLOSURE, what "explain this access"
#: explains, and what "what else that person read that day" lists).
READ_VERBS = ("read", "search", "list")


def in_words(action: str) -> str:
    """An action as a reviewer reads it: its words above, else its name made into words
    ("speaker.read" -> "Speaker: read"), never a bare code."""
    if action in WORDS:
        return WORDS[action]
    thing, _, verb = action.rpartition(".")
    if not thing:
        return action.replace("_", " ").capitalize()
    return f"{thing.replace('.', ' ').replace('_', ' ').capitalize()}: {verb.replace('_', ' ')}"


def is_access(action: str) -> bool:
    """True for an action that showed someone records: a disclosure, or any `<kind>.read`,
    `<kind>.search` or `<kind>.list`."""
    return action == DISCLOSURE or action.rpartition(".")[2] in READ_VERBS
