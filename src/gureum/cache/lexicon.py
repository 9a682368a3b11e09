"""Words that name the same thing: synonyms, loanwords, abbreviations, casual forms and their
English equivalents, so that 송금 / 이체 / transfer or 비번 / 비밀번호 / password align as one term.

Each line is one group; the first word is the group's key. Korean words are written as kiwipiepy
lemmas (verbs without 다), English ones as `analysis.stem` leaves them — the table is keyed through
`stem` at import, so plain forms can be written here. The list is general customer-service, HR,
banking, shopping and IT vocabulary; it is not drawn from the evaluation pairs. A group never
joins words that ask for different answers (환불 and 교환 are different groups).

Hand-written because no offline, licence-clear Korean–English synonym resource ships in a
package; e5 similarities of single words cannot tell a synonym (승급/업그레이드) from a sibling
(골드/플래티넘), which is exactly the distinction a cache needs.

A word may sit in several groups (account: 계좌 and 계정); two terms align when their groups meet.
"""

from __future__ import annotations

GROUPS = """
비밀번호 비번 패스워드 암호 password passcode pw pwd
변경 바꾸 수정 고치 change modify update edit alter convert
재설정 초기화 리셋 reset
승급 업그레이드 상향 등급업 upgrade
강등 다운그레이드 downgrade
송금 이체 보내 부치 transfer remit wire send
환불 돌려받 refund reimburse reimbursement
교환 exchange swap
반품 return
취소 캔슬 cancel cancellation
해지 해약 terminate termination
탈퇴 회원탈퇴 unsubscribe deregister
가입 등록 신청 join enroll enrol register signup sign_up apply application
로그인 login log_in sign_in signin
로그아웃 logout log_out sign_out signout
연결 접속 connect connection
배송 배달 택배 delivery shipping ship deliver
조회 확인 check see view track lookup
주문 order
결제 지불 계산 payment pay checkout
카드 card
신용카드 credit_card
체크카드 debit_card
계좌 통장 account
잔액 잔고 balance
한도 limit
수수료 fee charge commission
연회비 annual_fee
요금 비용 가격 금액 값 price cost rate charge
할인 discount
쿠폰 coupon voucher
포인트 적립금 point points reward
영수증 receipt
세금계산서 tax_invoice
청구서 고지서 invoice bill
휴대폰 핸드폰 휴대전화 폰 스마트폰 mobile phone cellphone smartphone
전화번호 연락처 phone_number
이메일 메일 전자우편 email mail
앱 어플 어플리케이션 애플리케이션 app application
웹사이트 사이트 홈페이지 website site homepage
계정 아이디 account id username
문의 질문 inquiry question
고객센터 상담센터 콜센터 customer_service support helpdesk
상담원 상담사 agent representative
예약 booking reservation book reserve
회의실 미팅룸 meeting_room conference_room
회의 미팅 meeting
휴가 vacation holiday leave
연차 annual_leave pto
병가 sick_leave
육아휴직 parental_leave
출장 business_trip
출장비 travel_expense
경비 비용정산 expense
정산 청구 claim settle reimbursement
급여 월급 봉급 salary pay wage payroll
상여금 보너스 bonus
퇴직금 severance
재택근무 재택 원격근무 remote_work wfh telework
출근 commute
보험 insurance
보험료 premium
보장 coverage cover
아버지 아빠 부친 father dad
어머니 엄마 모친 mother mom
부모 부모님 parent parents
아이 자녀 애 child kid
남편 husband
아내 와이프 wife
친구 friend
팀장 팀장님 manager team_lead
회사 직장 company employer workplace
직원 사원 employee staff
비자 visa
여권 passport
환전 currency_exchange
달러 dollar usd
원화 원 won krw
엔화 엔 yen jpy
유로 euro eur
기차 열차 train
비행기 항공편 항공 flight plane
버스 bus
공항 airport
역 station
호텔 숙소 hotel accommodation
주차 parking park
와이파이 wifi wi-fi
인터넷 internet
프린터 printer
출력 인쇄 프린트 뽑 print printout
노트북 랩탑 laptop notebook
컴퓨터 pc computer
모니터 monitor
설치 install installation
삭제 지우 제거 delete remove erase
다운로드 내려받 download
업로드 올리 upload
백업 backup
복구 복원 restore recover recovery
오류 에러 error
버그 bug
고장 망가지 broken
수리 repair fix
보증 warranty guarantee
해외 overseas abroad international foreign
국내 domestic
대출 loan
이자 interest
금리 이율 interest_rate
적금 savings
예금 deposit
세금 tax
연말정산 year-end_tax
신분증 id_card
주소 address
이름 name
생일 생신 birthday
날씨 weather
구독 subscription subscribe
멤버십 회원권 membership
회원 member
등급 tier level grade
알림 푸시 notification alert
설정 세팅 setting settings
언어 language
시작 start begin
종료 끝내 end finish
열 open
닫 close
켜 turn_on switch_on
끄 turn_off switch_off
늘리 증가 increase raise
줄이 감소 decrease reduce lower
빠르 fast quick
느리 slow
입금 deposit_money pay_in
출금 인출 withdraw withdrawal
수입 import
수출 export
출발 departure depart
도착 arrival arrive
체크인 check_in checkin
체크아웃 check_out checkout
최대 최고 max maximum
최소 최저 min minimum
한국 대한민국 korea south_korea
일본 japan
미국 usa america
중국 china
서울 seoul
부산 busan
인천 incheon
대구 daegu
대전 daejeon
광주 gwangju
제주 제주도 jeju
도쿄 tokyo
뉴욕 new_york
런던 london
파리 paris
""".strip()

# Pairs of groups that ask for opposite things: a term of one replaced by a term of the other is
# a near miss however close the embeddings are (log in / log out, 가입 / 탈퇴, 전 / 후).
OPPOSITES = """
로그인 로그아웃
가입 탈퇴
켜 끄
업로드 다운로드
승급 강등
늘리 줄이
열 닫
시작 종료
입금 출금
수입 수출
전 후
설치 삭제
국내 해외
환불 결제
송금 입금
최대 최소
상향 하향
오르 내리
상승 하락
증가 감소
늘리 줄이
체크인 체크아웃
check_in check_out
출발 도착
포함 제외
허용 금지
찬성 반대
합격 불합격
이기 지
많 적
크 작
높 낮
길 짧
위 아래
앞 뒤
import export
""".strip()
