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
AUDIT_READ = "audit.read"
AUDIT_REVIEW = "audit.review"
AUDIT_VERIFY = "audit.verify"
AUDIT_WITNESS_REGISTER = "audit.witness.register"

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
PERSON_UPDATE = "person.update"

PURGE_EVENT = "purge.event"
PURGE_RUN = "purge.run"
PURGE_SPEAKER = "purge.speaker"

REGION_DASHBOARD_READ = "region.dashboard.read"

RETURNS_READ = "returns.read"

SIGN_IN_OIDC_START = "sign_in.oidc.start"
SIGN_IN_PASSWORD = "sign_in.password"

SIGN_OUT = "sign_out"

SPEAKER_CREATE = "speaker.create"
SPEAKER_IMPORT = "speaker.import"
SPEAKER_MERGE = "speaker.merge"
SPEAKER_READ = "speaker.read"
SPEAKER_SEARCH = "speaker.search"
SPEAKER_UPDATE = "speaker.update"

SUBJECT_ACCESS_PREPARE = "subject_access.prepare"

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
