-- 10_faq.lua: the knowledge base that classify draws suggestions from.
-- Each article: an id (letters, digits, - and _), titles, the keywords that
-- suggest it, and an optional answer used as an automatic reply when a
-- customer only asks the question (see 20_classify.lua).

faq = {
  { id = "faq-return-7day", title_zh = "七天无理由退货怎么申请", title_en = "How do 7-day no-reason returns work",
    keywords = { "七天无理由", "7天无理由", "无理由退货", "no reason return", "7-day return", "seven day return" } },
  { id = "faq-refund-time", title_zh = "退款多久到账", title_en = "When will my refund arrive",
    keywords = { "退款多久", "多久到账", "退款到账", "refund arrive", "when will i get my refund", "refund status" } },
  { id = "faq-shipping-insurance", title_zh = "运费险怎么理赔", title_en = "How shipping insurance pays return freight",
    keywords = { "运费险", "退货运费", "shipping insurance", "return shipping cost" } },
  { id = "faq-tracking", title_zh = "如何查询物流", title_en = "How to track a parcel",
    keywords = { "物流", "快递", "查件", "tracking", "track my", "parcel", "delivery" } },
  { id = "faq-lost-parcel", title_zh = "包裹丢失怎么办", title_en = "My parcel is lost",
    keywords = { "丢件", "丢失", "没收到", "未收到", "lost parcel", "never arrived", "not received" } },
  { id = "faq-damaged-goods", title_zh = "收到商品破损怎么办", title_en = "I received a damaged item",
    keywords = { "破损", "坏了", "碎了", "划痕", "damaged", "broken", "cracked", "scratch" } },
  { id = "faq-wrong-item", title_zh = "发错货怎么办", title_en = "I received the wrong item",
    keywords = { "发错", "错发", "少发", "漏发", "wrong item", "missing item" } },
  { id = "faq-price-protection", title_zh = "价格保护规则", title_en = "Price protection",
    keywords = { "价保", "降价", "差价", "price protection", "price drop", "price difference" } },
  { id = "faq-invoice", title_zh = "如何开发票", title_en = "How to get an invoice",
    keywords = { "发票", "开票", "invoice", "receipt" },
    answer = "您可以在“我的订单 > 订单详情 > 申请开票”中开具电子发票。You can request an electronic invoice under My Orders > Order details > Request invoice." },
  { id = "faq-change-address", title_zh = "如何修改收货地址", title_en = "How to change the delivery address",
    keywords = { "修改地址", "改地址", "change address", "change my address" },
    answer = "订单发货前可在“订单详情 > 修改地址”中修改；已发货请联系快递改派。Before shipping, change it under Order details > Change address; after shipping, ask the courier to redirect." },
  { id = "faq-account-security", title_zh = "账号被盗怎么办", title_en = "My account was hacked",
    keywords = { "被盗", "盗号", "异地登录", "hacked", "account stolen", "unauthorized login" } },
  { id = "faq-payment-failed", title_zh = "支付失败或重复扣款", title_en = "Payment failed or charged twice",
    keywords = { "支付失败", "重复扣款", "扣了两次", "payment failed", "charged twice", "double charge" } },
}

-- Words that mark a message as only a question (no problem to fix).
question_words = { "怎么", "如何", "怎样", "how do i", "how to", "how can i", "where can i" }
-- Words that mark a real problem: never answer those automatically.
problem_words = { "破损", "坏", "没收到", "未收到", "投诉", "退款", "错", "damaged", "broken", "not received",
                  "complaint", "refund", "wrong", "never arrived", "charged" }
