-- Tests of 20_classify.lua: categories in Chinese and English, queues, tags,
-- FAQ suggestions and automatic answers.

local function category_of(subject, body)
  return decide("classify", { subject = subject, body = body }).category
end

function test_product_quality_chinese()
  local d = decide("classify", { subject = "收到的杯子碎了", body = "包装破损" })
  expect(d.category, "product_quality", "category")
  expect(d.queue, "support", "queue")
  expect(d.tags, "damaged", "tags")
end

function test_product_quality_english()
  expect(category_of("The blender arrived broken and cracked"), "product_quality", "category")
end

function test_logistics_both_languages()
  expect(category_of("快递三天没到，物流不更新"), "logistics", "zh")
  expect(category_of("My parcel never arrived, tracking is stuck"), "logistics", "en")
  expect(decide("classify", { subject = "parcel late" }).queue, "logistics", "queue")
end

function test_wrong_order()
  expect(category_of("发错货了，颜色不对"), "wrong_order", "zh")
  expect(category_of("I got the wrong item"), "wrong_order", "en")
end

function test_service_complaint_goes_to_supervisors()
  local d = decide("classify", { subject = "我要投诉客服态度差" })
  expect(d.category, "service_complaint", "category")
  expect(d.queue, "supervisors", "queue")
end

function test_price_dispute()
  expect(category_of("刚买就降价了，申请价保"), "price_dispute", "zh")
  expect(decide("classify", { subject = "price drop after purchase" }).queue, "finance", "queue")
end

function test_account_security_is_tagged_and_goes_to_risk()
  local d = decide("classify", { subject = "账号被盗了，有异地登录" })
  expect(d.category, "account_security", "category")
  expect(d.queue, "risk", "queue")
  expect(d.tags, "account_theft", "tags")
end

function test_technical_fault()
  expect(category_of("App 闪退，打不开"), "technical_fault", "zh")
  expect(decide("classify", { subject = "the app crash on checkout" }).queue, "tech", "queue")
end

function test_payment()
  expect(category_of("支付失败但是扣款了"), "payment", "zh")
  expect(category_of("I was charged twice"), "payment", "en")
end

function test_refund_policy()
  expect(category_of("我想申请七天无理由退货"), "refund_policy", "zh")
  expect(category_of("How do I get my money back"), "refund_policy", "en")
end

function test_general_inquiry_when_nothing_matches()
  local d = decide("classify", { subject = "你好", body = "hello there" })
  expect(d.category, "general_inquiry", "category")
  expect(d.queue, "support", "queue")
  expect(d.reason, "no keyword matched", "reason")
end

function test_english_matching_ignores_case()
  expect(category_of("PARCEL NEVER ARRIVED"), "logistics", "category")
end

function test_legal_threat_is_tagged_and_goes_to_supervisors()
  local d = decide("classify", { subject = "商品质量问题，不处理我就打12315" })
  expect(d.category, "product_quality", "category")
  expect(d.tags, "legal_threat", "tags")
  expect(d.queue, "supervisors", "queue")
  expect(decide("classify", { subject = "I will contact my lawyer about this broken tv" }).tags,
         "legal_threat", "en tags")
end

function test_safety_is_tagged()
  local d = decide("classify", { subject = "充电器冒烟了", body = "差点起火" })
  expect(d.tags, "safety", "tags")
end

function test_faq_suggestions()
  local d = decide("classify", { subject = "快递丢件了，一直没收到" })
  expect(d.faq, "faq-lost-parcel,faq-tracking", "faq")
end

function test_plain_question_gets_an_automatic_answer()
  local d = decide("classify", { subject = "怎么开发票？" })
  expect(d.resolve, "true", "resolve")
  expect(d.faq, "faq-invoice", "faq")
  expect(string.find(d.auto_reply, "Request invoice", 1, true) ~= nil, true, "answer text")
end

function test_no_automatic_answer_for_a_problem()
  local d = decide("classify", { subject = "How do I get an invoice for my broken item" })
  expect(d.auto_reply, nil, "auto_reply")
  expect(d.resolve, nil, "resolve")
end

function test_legal_threat_escalates_at_open()
  expect(decide("classify", { subject = "商品质量问题，不处理我就打12315" }).escalate, "legal_threat", "zh")
  -- a legal threat comes first, even in a complaint about the service
  expect(decide("classify", { subject = "rude staff, my lawyer will hear of this complaint" }).escalate,
         "legal_threat", "complaint too")
end

function test_service_complaint_escalates_at_open_and_nothing_else_does()
  expect(decide("classify", { subject = "我要投诉客服态度差" }).escalate, "complaint", "complaint")
  expect(decide("classify", { subject = "The blender arrived broken" }).escalate, nil, "plain problem")
  expect(decide("classify", { subject = "怎么开发票？" }).escalate, nil, "question")
end

-- Ties: the category listed first wins, and FAQ articles with as many
-- keywords found keep the knowledge base's order (classify walks only the
-- groups found, so the order is the rule's, not the matcher's).
function test_ties_keep_the_listed_order()
  -- one keyword each of wrong_order ("wrong item") and product_quality ("broken")
  expect(category_of("wrong item, broken"), "wrong_order", "category tie")
  expect(category_of("broken, wrong item"), "wrong_order", "category tie, other order")
  -- one keyword each of faq-tracking ("tracking"), faq-lost-parcel ("lost parcel"),
  -- faq-damaged-goods ("damaged") and faq-invoice ("invoice"): the first three by order
  local d = decide("classify", { subject = "invoice damaged lost parcel tracking" })
  expect(d.faq, "faq-tracking,faq-lost-parcel,faq-damaged-goods", "faq tie")
end
