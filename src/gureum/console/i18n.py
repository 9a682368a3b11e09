"""The console's UI text in Korean and English. The `lang` cookie wins; otherwise Korean when the
browser's Accept-Language prefers it over English."""

from __future__ import annotations

LANGS = ("ko", "en")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "gureum console", "login": "Log in", "logout": "Log out", "api_key": "API key",
        "login_help": "Log in with a gureum API key. The key is not stored in the browser.",
        "bad_key": "That API key is incorrect, revoked or expired.", "overview": "Overview",
        "budgets": "Budgets", "audit": "Audit", "requests": "Requests", "tokens": "Tokens", "cost": "Cost",
        "cache_saved": "Cache savings", "routing_saved": "Routing savings", "error_rate": "Error rate",
        "p50": "p50 latency", "p95": "p95 latency", "range": "Range", "group_by": "Group by", "tenant": "Tenant",
        "all_tenants": "all tenants", "model": "Model", "deployment": "Deployment", "apply": "Apply",
        "errors": "Errors", "no_data": "No data in this range.", "month_to_date": "Month to date",
        "projected": "Projected month end", "today": "Today", "budget": "Budget", "period": "Period",
        "limit": "Limit", "compared": "Compared", "ratio": "Use", "over": "Over budget", "no_budget": "No budget set.",
        "actor": "Actor", "action": "Action", "resource": "Resource", "outcome": "Outcome", "since": "Since",
        "until": "Until", "filter": "Filter", "time": "Time", "seq": "#", "detail": "Details",
        "verify": "Verify chain", "verify_ok": "Chain intact", "verify_bad": "Chain broken at event",
        "checked": "events checked", "any": "any", "signed_in_as": "Signed in as", "role": "Role",
        "more": "Next page", "event": "Event", "back": "Back", "language": "한국어",
        "verify_root_only": "Verifying the whole chain needs a platform (root tenant) auditor or admin.",
        "knowledge": "Knowledge", "collections": "Collections", "documents": "Documents", "residency": "Residency",
        "acl": "ACL", "pii": "PII", "chunks": "Chunks", "updated": "Updated", "no_collections": "No collections.",
        "playground": "Playground", "ask_as": "Ask as user", "groups": "Groups", "question": "Question",
        "ask": "Ask", "answer": "Answer", "citations": "Citations", "description": "Description", "doc_title": "Title",
        "routing": "Routing", "no_decisions": "No `auto` decisions yet.", "required_tier": "Required tier",
        "candidates": "Candidates", "why": "Why", "saved": "Saved vs strongest", "verdict": "Verdict",
        "est_cost": "Estimated cost", "tier": "Tier", "reasons": "Difficulty",
    },
    "ko": {
        "title": "구름 콘솔", "login": "로그인", "logout": "로그아웃", "api_key": "API 키",
        "login_help": "구름 API 키로 로그인하세요. 키는 브라우저에 저장되지 않습니다.",
        "bad_key": "API 키가 올바르지 않거나 폐기 또는 만료되었습니다.", "overview": "개요",
        "budgets": "예산", "audit": "감사", "requests": "요청", "tokens": "토큰", "cost": "비용",
        "cache_saved": "캐시 절감", "routing_saved": "라우팅 절감", "error_rate": "오류율",
        "p50": "p50 지연", "p95": "p95 지연", "range": "기간", "group_by": "묶음 기준", "tenant": "테넌트",
        "all_tenants": "전체 테넌트", "model": "모델", "deployment": "배포", "apply": "적용",
        "errors": "오류", "no_data": "이 기간에 데이터가 없습니다.", "month_to_date": "이번 달 누계",
        "projected": "월말 예상", "today": "오늘", "budget": "예산", "period": "주기",
        "limit": "한도", "compared": "비교 대상", "ratio": "사용률", "over": "예산 초과", "no_budget": "설정된 예산이 없습니다.",
        "actor": "행위자", "action": "동작", "resource": "자원", "outcome": "결과", "since": "시작",
        "until": "끝", "filter": "검색", "time": "시각", "seq": "번호", "detail": "상세",
        "verify": "체인 검증", "verify_ok": "체인 무결", "verify_bad": "체인이 끊긴 이벤트",
        "checked": "건 검사", "any": "전체", "signed_in_as": "로그인 사용자", "role": "역할",
        "more": "다음 페이지", "event": "이벤트", "back": "뒤로", "language": "English",
        "verify_root_only": "전체 체인 검증은 플랫폼(root 테넌트) 감사자 또는 관리자만 할 수 있습니다.",
        "knowledge": "지식", "collections": "컬렉션", "documents": "문서", "residency": "데이터 위치",
        "acl": "접근 권한", "pii": "개인정보", "chunks": "청크", "updated": "갱신", "no_collections": "컬렉션이 없습니다.",
        "playground": "플레이그라운드", "ask_as": "질문할 사용자", "groups": "그룹", "question": "질문",
        "ask": "질문하기", "answer": "답변", "citations": "인용", "description": "설명", "doc_title": "제목",
        "routing": "라우팅", "no_decisions": "아직 `auto` 라우팅 결정이 없습니다.", "required_tier": "필요 등급",
        "candidates": "후보", "why": "선택 이유", "saved": "최고 모델 대비 절감", "verdict": "판정",
        "est_cost": "예상 비용", "tier": "등급", "reasons": "난이도",
    },
}


def choose(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGS:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = lang, q
    return best


__all__ = ["LANGS", "TEXT", "choose"]
