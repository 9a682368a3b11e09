"""Name lists for PERSON detection: Korean surnames and given names, common given names and
surnames from English-speaking and other countries, and the capitalised words that are not
names. Written by hand from public frequency lists; extend them here, not in the rules."""

from __future__ import annotations


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


# About 100 single-syllable surnames cover over 99% of Korean citizens; rarer ones
# (a few thousand people each) would mostly add false positives.
KO_SURNAMES = _words("""
김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 유 전 홍 고 문 양 손 배 백 허 남 심 노 하
곽 성 차 주 우 구 민 진 나 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표
명 기 반 라 왕 금 옥 육 인 맹 제 모 탁 국 어 은 편 용 예 봉 경 태 목 형 피 두 감 음 빈 동 온
""")
KO_DOUBLE_SURNAMES = _words("남궁 황보 제갈 선우 독고 사공 서문")
# Double surnames that are no ordinary word (unlike 서문 "preface" or 사공 "boatman"): a name
# starting with one needs no known given name.
KO_DISTINCT_SURNAMES = _words("남궁 황보 제갈")

# Given names popular from the 1940s to the 2020s (both sexes).
KO_GIVEN_NAMES = _words("""
민준 서준 도윤 예준 시우 하준 주원 지호 지후 준우 준서 도현 건우 현우 우진 선우 서진 민재 현준 연우
유준 정우 승우 승현 시윤 준혁 은우 지환 승민 지훈 유찬 윤우 민성 준영 시후 진우 지원 수호 재윤 시현
동현 재원 민우 태윤 은찬 한결 이준 도하 지성 태민 성민 성진 성수 성호 성훈 상훈 상철 상우 상민 상현
영수 영호 영철 영진 영민 영길 영식 영훈 병철 병호 병수 동훈 동욱 동원 동진 동건 재현 재훈 재민 재석
재호 재영 정호 정훈 정민 정수 준호 준기 준수 진호 진혁 진수 태현 태호 태준 태훈 현석 현수 현성 현민
형준 형민 민수 민호 민석 민혁 광수 광호 종수 종민 철수 철민 명수 명호 경수 경호 기훈 기현 대현 대호
대성 석진 석민 승훈 승호 승준 우현 원준 윤호 은호 인호 인수 재성 종현 주현 주호 준희 지석 진영 창민
창호 천수 충현 해성 현철 형석 호진 희수 도훈 민규 민찬 범수 상진 선호 세준 세훈 수혁 용준 용호 용수
우성 원석 윤성 재우 정현 종훈 주영 준석 지웅 찬영 하람 한솔 현빈 효석 규현 다온 이안 로운 시원 도진
하진 건희 규민 기범 남길 대한 동민 동하 명진 무진 문수 민기 민환 범준 병훈 보검 상욱 상일 석훈 성빈
성우 성준 세진 수민 승기 승원 승재 시훈 영광 영재 영준 용진 우빈 원희 유성 윤재 은성 인성 재하 재형
정빈 정욱 종원 주혁 준형 지한 진석 찬우 찬희 창수 철호 태경 태영 태성 하늘 한별 현기 현웅 형진 홍석
서연 서윤 지우 서현 민서 하은 하윤 윤서 지유 지민 채원 지아 수아 다은 예은 수빈 소율 예린 소윤 예원
지안 시은 채은 하린 유나 가은 윤아 민지 유진 예나 서아 다인 은서 아린 나은 서우 하율 지윤 은채 예서
서영 민주 수연 지현 지은 수진 은지 혜진 현주 지영 미영 은영 유리 지혜 혜원 소연 나연 보람 슬기 은비
다혜 예지 수정 은정 미정 혜정 선영 정은 지수 현정 미진 미란 미선 미숙 미경 미희 영희 영숙 영자 영미
영순 순자 순희 정숙 정희 정자 명숙 경숙 경희 경자 옥순 춘자 말순 숙자 현숙 혜숙 은숙 정미 은희 선희
혜영 지연 세영 수현 수지 보은 보영 소희 소영 소정 아름 아영 애리 연희 연주 예진 유정 윤희 은경 은주
인영 정아 정원 주희 지희 진희 채린 채윤 초롱 태희 하나 한나 해진 혜리 혜린 효진 효정 희정 가영 가연
나래 나리 다솜 다연 단비 미나 민경 민정 민아 서희 선미 선아 소라 수경 수미 수희 승연 승희 시연 신영
아라 아현 연경 연수 영은 예림 유경 유림 유미 윤정 은아 은혜 재희 정연 정화 주연 주은 지나 지선 지애
진아 채영 해인 현아 현지 혜인 혜지 화영 희진 다빈 나윤 하연 시아 예솔 예빈 규리 리아 아윤 이서 도은
로아 설아 순애 순옥 복순 옥자 말자 금순 금자 분순 향숙 춘희 명희 미자 양숙 정순 경순 영애 인숙 혜경
""")

# Given names that are also everyday words (하나님, 최대한, 지원): they need more evidence than a
# known name, and never count on their own.
KO_GIVEN_COMMON_WORDS = _words("""
하나 하늘 보람 아름 대한 한결 한솔 한별 지원 수정 정은 은혜 소라 나래 다솜 단비 초롱 이안 로운 리아 하람
수호 영광 태양 대성 재석 성수 지성
""")

# Syllables that occur in Korean given names: a candidate whose "given name" contains any
# other syllable ("고객", "이용자", "정보") is an ordinary word, not a name.
KO_NAME_SYLLABLES = frozenset("".join(KO_GIVEN_NAMES)) | _words("""
갑 강 건 겸 결 계 관 광 구 국 권 규 균 근 금 기 길 난 남 녀 녕 노 눈 늘 담 덕 돈 돌 동 두 득 들 란
몽 걸 곤 교 군 귀 극 낙 달 당 독 등 락 랑 로 루 륭 무 발 방 번 본 북 섬 숭 쌍 암 억 울 융 좌 죽 참
척 촌 총 추 축 탄 탑 토 파 팔 평 포 풍 필 학 항 해 행 허 헌 혁 협 혼 화 환 회 효 후 휘 흠 흥
래 량 려 련 렬 령 례 록 률 륜 린 림 립 만 매 면 모 목 묵 문 미 민 백 범 벽 별 병 복 봉 부 분 비 빈
빛 사 산 삼 새 생 석 선 섭 성 세 소 솔 송 수 숙 순 술 슬 승 시 식 신 실 심 애 양 언 엄 업 여 연 열
염 엽 영 예 오 옥 온 완 왕 요 욱 운 웅 원 월 위 유 윤 율 은 을 음 응 의 익 인 일 임 자 작 잔 장 재
전 절 점 정 제 조 종 주 준 중 지 직 진 찬 창 채 천 철 청 초 춘 충 치 칠 탁 태 택 판 평 표 필 하 학
한 함 항 해 햇 향 헌 혁 현 협 형 혜 호 홍 화 환 활 황 회 효 후 훈 휘 희 힘
""")

KO_PERSON_CUES_BEFORE = _words("""
성명 이름 성함 성함은 성함이 고객 고객명 고객님 담당 담당자 예금주 수신 수신인 수신자 수취인 발신 발신인
발신자 보낸사람 받는사람 신청인 신청자 작성자 확정자 대상자 입사자 퇴사자 지원자 환자 보호자 직원 사원
회원 학생 임차인 임대인 계약자 피보험자 수령인 결재자 승인자 요청자 문의자 대표 대표자 대표이사 주문자
구매자 판매자 예약자 투숙객 승객 탑승객 명의 명의자 가입자 사용자 운전자 참석자 참가자 동료 이용자 고객명
상담원 상담사 기사 기사님 선생님 교수님 저는 나는 제이름은 예금주명 카드소유자 소유자 보증인 연대보증인
받는분 보내는분 분 사람 작성 참석 참석자 담당자명 성명란 환자명 수령자
""")
KO_TITLES_AFTER = _words("""
님 씨 군 양 선생 선생님 교수 교수님 박사 박사님 대리 대리님 과장 과장님 차장 차장님 부장 부장님 팀장
팀장님 실장 실장님 본부장 본부장님 센터장 사장 사장님 회장 회장님 이사 이사님 상무 상무님 전무 전무님
대표 대표님 책임 책임님 선임 선임님 수석 수석님 연구원 연구원님 사원 사원님 주임 주임님 매니저 매니저님
프로 프로님 기자 변호사 세무사 회계사 의사 간호사 원장 원장님 총무 계장 주무관 고객 고객님 드림 올림
배상 귀하 앞 작가 감독 선수 위원 위원장 의원 장관 교사 강사 조교 인턴 님께 님이 님은 님의 님을 님도
""")
# Particles that may glue to a name; weaker evidence than a title, but they mark a word end.
KO_PARTICLES = (
    "께서", "에게", "한테", "이랑", "랑", "이", "가", "은", "는", "을", "를", "의", "와", "과", "께",
    "도", "만", "이가", "이는", "이의", "이도", "입니다", "이에요", "예요", "이고", "으로", "로",
)

EN_GIVEN_NAMES = _words("""
Aaron Abigail Adam Adrian Aiden Aisha Alan Albert Alex Alexa Alexander Alexandra Alexis Ali Alice Alicia
Alina Allison Alyssa Amanda Amelia Amir Amy Ana Andre Andrea Andrew Andy Angela Anita Ann Anna Anne Annie
Anthony Antonio Anya Aria Ariana Arjun Arthur Ashley Aubrey Audrey Ava Avery Barbara Beatrice Ben Benjamin
Beth Betty Bianca Blake Bradley Brandon Brenda Brian Brianna Brittany Brooke Bruce Bryan Caleb Cameron
Camila Carl Carla Carlos Carmen Carol Caroline Catherine Cecilia Charles Charlie Charlotte Chen Chloe
Chris Christina Christine Christopher Cindy Claire Clara Claudia Colin Connor Craig Cynthia Daisy Daniel
Daniela Danielle David Deborah Debra Denise Dennis Derek Diana Diego Dmitri Dominic Donald Donna Dorothy
Dylan Edward Elena Eli Elias Elijah Elizabeth Ella Ellen Ellie Emily Emma Eric Erica Erik Erin Ethan
Eugene Eva Evan Evelyn Fatima Felix Fernando Fiona Florence Francesca Francis Gabriel Gabriela Gabriella
Gary George Gerald Gianna Giovanni Giulia Gloria Gregory Hailey Haley Hana Hannah Haruto Harper Harry
Hassan Heather Helen Henry Hiroshi Hugo Ian Igor Ingrid Irene Isaac Isabel Isabella Isla Ivan Jack Jacob
Jacqueline Jake James Jamie Jane Janet Jasmine Jason Javier Jayden Jean Jeffrey Jennifer Jeremy Jerry
Jesse Jessica Joan Joanna Joel John Jonathan Jose Joseph Joshua Joyce Juan Judith Julia Julian Julie
Justin Karen Karim Kate Katherine Kathleen Kathryn Katie Kayla Keith Kelly Ken Kenji Kenneth Kevin Kim
Kimberly Kyle Lara Larry Laura Lauren Layla Leah Leila Lena Leo Leon Liam Lily Linda Lisa Logan Lois
Lorenzo Louis Lucas Lucia Luis Luka Luke Luna Madison Maria Mariam Marie Marco Margaret Maria Marina
Mario Marta Martha Martin Mary Mateo Matteo Matthew Maya Megan Mei Melissa Mia Michael Michelle Miguel
Mikhail Mila Min Minh Mohammed Mohammad Muhammad Monica Nadia Nancy Naomi Natalia Natalie Nathan
Nicholas Nicole Nikita Nina Noah Nora Oliver Olivia Omar Oscar Owen Pablo Pamela Patricia Patrick Paul
Paula Peter Philip Priya Rachel Rafael Rahul Ravi Rebecca Riley Robert Roberto Ryan Sabrina Samantha
Samuel Sandra Santiago Sara Sarah Scarlett Scott Sean Sebastian Sergei Sharon Sofia Sophia Sophie
Stephanie Stephen Steven Susan Takumi Tanya Teresa Thomas Timothy Tyler Valentina Vanessa Victoria
Vincent Violet Walter Wei William Xavier Yan Yasmin Yuki Yuna Yusuf Zachary Zara Zoe Zoey Aditya Akira
Aleksandr Amara Anders Astrid Ayumi Chiara Chidi Emeka Femi Hamza Hye Ingrid Jorge Kwame Lars Mateus
Nkechi Olga Pedro Sakura Sven Tomas Yara Yuto Zainab Ngozi Aarav Ananya Hiro Kofi Ama Aiko Haruka
Minjun Seojun Doyun Jiho Jihoon Hyunwoo Minsu Seoyeon Seoyun Jiwoo Seohyun Minseo Haeun Hayoon Yoonseo
Jimin Chaewon Daeun Yejin Eunji Jiyoung Sujin Hyejin Soyeon Nayeon Jieun Jiwon Sohee Yujin Dohyun
Jiyeon Seungmin Junho Jaehyun Taeyang Minji Sumin Hyunjin Jisoo Jennie Yerin Seulgi Joohyun Sungmin
Youngho Jungho Donghyun Jaewon Sangwoo Sunghoon Kyungsoo Hyejin Eunbi Hana Bora Yeji Jinwoo Taeyoon
Seoyoung Jiyun Minseok Junseo Yeseo Hajun Siwoo Juwon Eunwoo Seungwoo Hyunjun Minjae Jaeyoon Chaeyoung
Dahyun Nayoung Sooyoung Yoona Taeyeon Hyomin Jongin Kyungmin Sangmin Jaehoon Junghoon Seungho
Aaliyah Abdul Adele Agnes Ahmed Aidan Alberto Alejandro Alfred Alma Amelie Anastasia Andreas Angelica
Antoine Arnav Asher Aurora Axel Bella Benedict Bruno Caitlin Callum Carolina Cassandra Catalina Cesar
Chantal Clarissa Conor Cristina Dalia Damian Dana Darius Delia Devon Dimitri Dina Eduardo Elif Elisa
Elise Eliza Elsa Emilia Emil Enzo Esther Ewan Farah Felipe Finn Freya Gemma Georgina Greta Hailee Hamid
Hector Heidi Helena Ibrahim Ines Irina Isaiah Ivana Jana Jasper Joaquin Johanna Jonas Julien Kai Kamal
Karina Katarina Kenta Keisha Kiara Klaus Lana Laila Leonardo Liliana Linnea Lorena Lucy Magnus Malik
Manon Marcus Mariana Marisol Matilda Maximilian Mehmet Melanie Mina Miriam Moritz Nadine Nasser Nathaniel
Nico Niklas Noelle Nour Oksana Olena Oliver Ophelia Pavel Petra Quentin Rafaela Ramon Rania Rebeca Renata
Reza Rohan Rosa Ruben Ruth Salma Samir Sana Selin Serena Simone Sina Siobhan Soren Stella Tariq Thea
Theo Tobias Valeria Vera Viktor Wanda Yasmine Yusuf Zeynep Ziad Zora Eunice Nadia Layla Lina Omar Tom
""")

# Given names that are also everyday words or places ("Rose Gold", "Art Deco", "Grace Period"):
# a name only with a known surname after it or a cue before it ("Grace Taylor", "Hi Grace,").
EN_WORD_GIVEN = _words("""
Will May June April August Grace Hope Faith Joy Rose Lily Summer Autumn Dawn Amber Ruby Pearl Iris
Violet Jasmine Daisy Holly Ivy Mark Bill Frank Sterling Hunter Chase Mason Carter Cooper Parker Taylor
Jordan Austin Dallas Eden Sky Angel Christian Guy Gene Pat Sue Rob Drew Chuck Art Don Ray Jack Max
Lane Brook Reed Miles Rich Dean Earl Florence Georgia Virginia Sydney Paris Chelsea Jose Carolina
Min Kim Chen Wei Yan Jean Ken Hana Mei Hiro Ama Bora Hye Clara Maria
""")
# Given names that are mostly names but also surnames or short words: a name with any
# capitalised word after it ("Harper Okafor") or a cue, not alone.
EN_AMBIGUOUS_GIVEN = EN_WORD_GIVEN | _words("""
Bob Victor Harper Charlotte Luna Mila Nina Sara Ali Leo Ian Eli Sean Amy Ann Eva Lucas Logan Riley
Avery Blake Cameron Kelly Jamie Madison Brooke Aubrey
""")
# Words that make the capitalised word after them a place: "San Jose", "North Carolina".
EN_PLACE_PREFIXES = _words("San Santa Los Las New North South East West Saint St Fort Port Mount Lake Cape El La Le")

EN_SURNAMES = _words("""
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall
Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins
Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly
Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes
Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan
Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander
Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy
Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon
Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose
Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver
Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart
Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray
Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval
Nakamura Tanaka Suzuki Sato Takahashi Watanabe Ito Yamamoto Kobayashi Yamada Sasaki Yoshida Kato Wang
Li Zhang Liu Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Okafor Okonkwo Adeyemi Mensah
Dubois Martin Bernard Petit Durand Leroy Moreau Laurent Lefebvre Muller Schneider Fischer Weber Becker
Schulz Rossi Russo Ferrari Esposito Bianchi Romano Ricci Costa Silva Santos Oliveira Souza Pereira
Ferreira Almeida Kowalski Novak Ivanov Petrov Smirnov Popescu Jensen Nielsen Hansen Larsen Andersen
Johansson Eriksson Larsson Olsen Kumar Singh Sharma Gupta Khan Ali Ahmed Hassan Hussain Rahman Cohen
Levi Friedman Murphy Kelly Byrne Ryan OBrien Walsh Doyle Lynch McCarthy Quinn Fraser Campbell Stewart
Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn Song Yoo Hong Jeon Ko Moon Yang
Son Bae Baek Heo Nam Shim Noh Ha Kwak Sung Cha Joo Woo Koo Min Jin Na Ji Eom Chae Won Bang Gong Hyun
Ryu Yu Lee Yi Rhee Chung Jeong Jo Yun Chang Im Suh Sin An Chun Jun Go Mun Paek Huh Roh Seong Ju Ku Um
""")

# Romanised Korean surnames: "Kim Min-su", "Park Jiwon" put the surname first.
ROMANIZED_KO_SURNAMES = _words("""
Kim Lee Yi Rhee Park Pak Choi Choe Jung Jeong Chung Kang Cho Jo Yoon Yun Jang Chang Lim Im Han Oh Seo
Suh Shin Sin Kwon Hwang Ahn An Song Ryu Yoo Yu Jeon Jun Chun Hong Ko Go Moon Mun Yang Son Bae Baek Heo
Huh Nam Shim Sim Noh Roh Ha Kwak Sung Seong Cha Joo Ju Woo Koo Ku Min Jin Na Ji Um Eom Chae Won Bang
Gong Hyun Ham Byun Yeom Namgung Hwangbo Jegal Sunwoo
""")

EN_TITLES = _words("Mr Mrs Ms Miss Mx Dr Prof Sir Madam Mme Mlle Herr Frau")

EN_PERSON_CUES = (
    "name", "full name", "names", "holder", "cardholder", "card holder", "account holder", "traveler",
    "traveller", "passenger", "customer", "client", "employee", "new hire", "hire", "manager", "user",
    "owner", "assignee", "reporter", "patient", "applicant", "resident", "tenant", "guest",
    "recipient", "sender", "driver", "member", "student", "candidate", "agent", "representative",
    "signed", "regards", "sincerely", "thanks", "attn", "attention", "dear", "hi", "hello", "hey",
    "cc", "author", "requester", "requested by", "approved by", "assigned to", "beneficiary", "payee",
    "supervisor", "colleague", "teacher", "doctor", "nurse", "lawyer", "buyer", "seller", "attendee",
)

# Capitalised words that start sentences, name things or greet: never part of a name.
NOT_NAME_WORDS = _words("""
The A An And Or But If For From To In On At By With Without Of As Is Are Was Were Be Been Has Have Had Do
Does Did Not No Yes Ok Okay Hi Hello Dear Hey Thanks Thank Regards Best Sincerely Please Re Fwd Subject
Note Notes Reminder New Hire Manager Admin User Users Client Server Api Account Order Invoice Ticket
Chargeback Dispute Foreign Resident Traveler Passport Vendor Purchase Suspicious Login Error Info Warning
Debug Qa Test Today Tomorrow Yesterday Morning Afternoon Evening Night Team Support Customer Service
Services Center Centre Department Dept Office Group Inc Corp Corporation Co Ltd Llc Company Bank Card
Street St Road Rd Avenue Ave Korea Korean Seoul Busan English American Monday Tuesday Wednesday Thursday
Friday Saturday Sunday January February March July September October November December University School
College Hospital Hotel Airport Airlines Air Station River Mountain Lake Bridge Building Tower Plaza Mall
Market Store Shop Cafe Restaurant Church Street Lane Drive Court Square Hall Room Floor Gate Park's
This That These Those There Here Where When What Which Who Why How All Any Each Every Some Our Your
My His Her Their Its We You He She They It I Me Us Them Mon Tue Wed Thu Fri Sat Sun Jan Feb Mar Apr
Jun Jul Aug Sep Sept Oct Nov Dec Dial Pin Call Meeting Project Product Release Version Update Delivery
Payment Refund Contact Email Phone Mobile Address Number No Id Name Date Time Total Amount Price Status
Sales Marketing Finance Legal Hr Engineering Operations Security Platform Cloud Data System Systems
Global International National Central North South East West Northern Southern Eastern Western Great
Royal State City County District Province Republic Kingdom Empire Union Association Institute Society
Foundation Council Committee Board Agency Ministry Government Court Police Army Navy Force Forces
Best Kind Warm Many Much More Most Also Just Only Then Than So Such Very After Before During Since
Until While Because Although However Therefore Dr Mr Mrs Ms Prof Sir
""")
