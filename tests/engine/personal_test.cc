// Personal data: every string field of the protocol is classified; the
// personal ones move out of a record and back unchanged; no applier reads
// them (a case folds the same without them); AES-256-GCM, the key store and
// sealed records, including what a wrong key, moved bytes or a destroyed
// key get.
#include "engine/domain/personal.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/common/time.h"
#include "engine/privacy/aead.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/workflow/appliers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gridcase/v1/privacy.pb.h"
#include "gridcase/v1/service.pb.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/support/events.h"
#include "tests/support/temp_dir.h"

namespace gridcase {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

void CollectMessages(const Descriptor* d, std::set<const Descriptor*>* out) {
  if (!out->insert(d).second) return;
  for (int i = 0; i < d->nested_type_count(); ++i) CollectMessages(d->nested_type(i), out);
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->message_type() != nullptr) CollectMessages(d->field(i)->message_type(), out);
  }
}

// Every message of every gridcase.v1 file service.proto reaches.
std::set<const Descriptor*> ProtocolMessages() {
  std::set<const FileDescriptor*> files;
  std::vector<const FileDescriptor*> todo = {v1::SubmitRequest::descriptor()->file()};
  while (!todo.empty()) {
    const FileDescriptor* f = todo.back();
    todo.pop_back();
    if (f->package() != "gridcase.v1" || !files.insert(f).second) continue;
    for (int i = 0; i < f->dependency_count(); ++i) todo.push_back(f->dependency(i));
  }
  std::set<const Descriptor*> out;
  for (const FileDescriptor* f : files) {
    for (int i = 0; i < f->message_type_count(); ++i) CollectMessages(f->message_type(i), &out);
  }
  return out;
}

TEST(PersonalTest, EveryStringFieldOfTheProtocolIsClassified) {
  std::vector<std::string> unclassified;
  int strings = 0, personal = 0;
  for (const Descriptor* d : ProtocolMessages()) {
    // A map's entries are classified by the map field itself (below).
    if (d->file()->package() != "gridcase.v1" || d->options().map_entry()) continue;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      const bool strings_map =
          f->is_map() && (f->message_type()->map_key()->type() == FieldDescriptor::TYPE_STRING ||
                          f->message_type()->map_value()->type() == FieldDescriptor::TYPE_STRING);
      if (f->type() != FieldDescriptor::TYPE_STRING && !strings_map) continue;
      ++strings;
      const v1::DataClass c = f->options().GetExtension(v1::data_class);
      if (c == v1::DATA_CLASS_UNSPECIFIED) unclassified.push_back(f->full_name());
      personal += c == v1::PERSONAL;
    }
  }
  EXPECT_THAT(unclassified, ::testing::IsEmpty())
      << "add [(data_class) = PERSONAL] or [(data_class) = NOT_PERSONAL]";
  EXPECT_GT(strings, 200);
  EXPECT_EQ(personal, 17);
}

TEST(PersonalTest, NoRepeatedMessageOfAnEventHoldsPersonalFields) {
  // SplitPersonal could not put such a field back in place.
  std::set<const Descriptor*> messages;
  CollectMessages(v1::Event::descriptor(), &messages);
  for (const Descriptor* d : messages) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->is_repeated() && f->message_type() != nullptr) {
        EXPECT_FALSE(HasPersonalFields(f->message_type())) << f->full_name();
      }
    }
  }
}

// Sets every string field of `m` (recursively, one message deep per oneof
// member chosen by the caller) to a value naming it.
void FillStrings(Message* m) {
  const auto* r = m->GetReflection();
  for (int i = 0; i < m->GetDescriptor()->field_count(); ++i) {
    const FieldDescriptor* f = m->GetDescriptor()->field(i);
    if (f->containing_oneof() != nullptr) continue;
    if (f->type() == FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        r->AddString(m, f, f->full_name() + "#1");
        r->AddString(m, f, f->full_name() + "#2");
      } else {
        r->SetString(m, f, f->full_name());
      }
    } else if (f->type() == FieldDescriptor::TYPE_MESSAGE && !f->is_repeated() &&
               f->message_type()->file()->package() == "gridcase.v1") {
      FillStrings(r->MutableMessage(m, f));
    }
  }
}

// Every payload type, with every string field set.
std::vector<v1::Event> EveryPayloadFilled() {
  std::vector<v1::Event> out;
  const auto* payload = v1::Event::descriptor()->FindOneofByName("payload");
  for (int i = 0; i < payload->field_count(); ++i) {
    v1::Event e = testing::BaseEvent("e1", "c1");
    FillStrings(&e);
    FillStrings(e.GetReflection()->MutableMessage(&e, payload->field(i)));
    out.push_back(std::move(e));
  }
  return out;
}

TEST(PersonalTest, SplitMovesExactlyThePersonalFieldsAndMergeRestoresTheEvent) {
  for (const v1::Event& original : EveryPayloadFilled()) {
    v1::Event e = original;
    v1::Event personal;
    const bool any = SplitPersonal(&e, &personal);
    EXPECT_EQ(any, HasPersonalValues(original)) << original.ShortDebugString();
    EXPECT_FALSE(HasPersonalValues(e)) << e.ShortDebugString();
    // What moved is personal, and nothing else: without its personal
    // fields it is an empty event (but for the payload it belongs to).
    v1::Event rest = personal;
    v1::Event none;
    SplitPersonal(&rest, &none);
    v1::Event empty;
    if (rest.payload_case() != v1::Event::PAYLOAD_NOT_SET) {
      empty.GetReflection()->MutableMessage(
          &empty, v1::Event::descriptor()->FindFieldByNumber(rest.payload_case()));
    }
    EXPECT_TRUE(MessageDifferencer::Equals(rest, empty))
        << "non-personal fields in the sealed part: " << rest.ShortDebugString();
    MergePersonal(personal, &e);
    EXPECT_TRUE(MessageDifferencer::Equals(e, original)) << original.ShortDebugString();
  }
  v1::Event note = testing::NoteEvent("n", "c", "fever since Monday, lives with mother");
  v1::Event personal;
  ASSERT_TRUE(SplitPersonal(&note, &personal));
  EXPECT_EQ(note.note().text(), "");
  EXPECT_EQ(personal.note().text(), "fever since Monday, lives with mother");
  EXPECT_EQ(personal.event_id(), "");
}

TEST(PersonalTest, ACaseFoldsTheSameWithoutItsPersonalFields) {
  // The appliers never read a personal field: a rebuild from sealed
  // records, or one after an erasure, folds what the live engine did.
  for (const v1::Event& e : EveryPayloadFilled()) {
    v1::Record with;
    *with.mutable_event() = e;
    with.set_position(5);
    with.set_case_version(2);
    *with.mutable_recorded_at() = FromMicros(1582372800LL * 1000000);
    v1::Record without = with;
    v1::Event personal;
    SplitPersonal(without.mutable_event(), &personal);
    for (uint64_t caused_by : {0, 4}) {
      with.set_caused_by(caused_by);
      without.set_caused_by(caused_by);
      v1::CaseState a, b;
      a.set_case_id("c1");
      b.set_case_id("c1");
      workflow::ApplyRecord(with, nullptr, &a);
      workflow::ApplyRecord(without, nullptr, &b);
      EXPECT_TRUE(MessageDifferencer::Equals(a, b)) << e.ShortDebugString() << "\n"
                                                    << a.ShortDebugString() << "\n"
                                                    << b.ShortDebugString();
    }
  }
}

// Whose key seals what: a resident's case under the case, a directory
// record about a person under the person, the engine's other records not.
TEST(PersonalTest, EachRecordIsSealedUnderItsSubjectsKey) {
  v1::Event e;
  e.set_case_id("resident-1");
  e.mutable_note()->set_text("x");
  EXPECT_EQ(SubjectOf(e), "case:resident-1");
  e.set_case_id("~directory");
  e.mutable_person_registered()->set_person_id("worker-li");
  EXPECT_EQ(SubjectOf(e), "person:worker-li");
  e.mutable_availability_changed()->set_person_id("cadre-zhang");
  EXPECT_EQ(SubjectOf(e), "person:cadre-zhang");
  e.mutable_unit_defined()->set_unit_id("jiangan");
  EXPECT_EQ(SubjectOf(e), "");
  e.mutable_cadre_paired()->set_cadre_id("cadre-zhang");
  EXPECT_EQ(SubjectOf(e), "");
  e.mutable_erasure()->set_person_id("worker-li");
  EXPECT_EQ(SubjectOf(e), "");
  e.set_case_id("~workflows");
  e.mutable_note()->set_text("x");
  EXPECT_EQ(SubjectOf(e), "");
}

TEST(AeadTest, RoundTripsAndRefusesAnotherKeyOtherDataOrAFlippedBit) {
  const std::string key(32, 'k');
  auto nonce = privacy::RandomBytes(privacy::kNonceBytes);
  ASSERT_TRUE(nonce.ok());
  auto sealed = privacy::Seal(key, *nonce, "aad", "Zhang San, 13800000000");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), 22 + privacy::kTagBytes);
  EXPECT_EQ(sealed->find("Zhang"), std::string::npos);
  auto opened = privacy::Open(key, *nonce, "aad", *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "Zhang San, 13800000000");
  EXPECT_TRUE(
      absl::IsDataLoss(privacy::Open(std::string(32, 'x'), *nonce, "aad", *sealed).status()));
  EXPECT_TRUE(absl::IsDataLoss(privacy::Open(key, *nonce, "other", *sealed).status()));
  std::string flipped = *sealed;
  flipped[3] ^= 1;
  EXPECT_TRUE(absl::IsDataLoss(privacy::Open(key, *nonce, "aad", flipped).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(privacy::Seal("short", *nonce, "", "x").status()));
}

class KeyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<privacy::KeyStore> OpenStore(const std::string& master = kMaster) {
    auto s = privacy::KeyStore::Open(dir_.Sub("keys"), master);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static inline const std::string kMaster = std::string(32, 'm');
  testing::TempDir dir_;
};

TEST_F(KeyStoreTest, KeysAreDurableOnlyOncePersistedAndDestroyedForGood) {
  std::string key;
  {
    auto store = OpenStore();
    privacy::KeyStore::Pending pending;
    auto made = store->KeyFor("case:a", &pending);
    ASSERT_TRUE(made.ok());
    key = *made;
    EXPECT_EQ(key.size(), 32u);
    EXPECT_EQ(*store->KeyFor("case:a", &pending), key);             // the same while pending
    EXPECT_TRUE(absl::IsNotFound(store->Find("case:a").status()));  // not durable yet
    ASSERT_TRUE(store->Persist(&pending).ok());
    EXPECT_TRUE(pending.empty());
    EXPECT_EQ(*store->Find("case:a"), key);
    privacy::KeyStore::Pending lost;
    ASSERT_TRUE(store->KeyFor("case:never-persisted", &lost).ok());
  }
  // The wrapped key as the store holds it on disk, read without the store.
  std::string wrapped;
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_.Sub("keys"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "k/case:a", &wrapped).ok());
    ASSERT_GT(wrapped.size(), key.size());
  }
  auto store = OpenStore();
  EXPECT_EQ(*store->Find("case:a"), key);
  EXPECT_TRUE(absl::IsNotFound(store->Find("case:never-persisted").status()));
  ASSERT_TRUE(store->Destroy("case:a").ok());
  EXPECT_TRUE(absl::IsNotFound(store->Find("case:a").status()));
  privacy::KeyStore::Pending pending;
  EXPECT_TRUE(absl::IsFailedPrecondition(store->KeyFor("case:a", &pending).status()));
  ASSERT_TRUE(store->Destroy("case:a").ok());  // again: a retry
  store.reset();
  store = OpenStore();
  EXPECT_TRUE(absl::IsNotFound(store->Find("case:a").status()));
  // The raw key is in no file of the store, before or after: only
  // wrapped; and after Destroy the wrapped bytes are in no file either.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.Sub("keys"))) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(key), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find(wrapped), std::string::npos) << entry.path();
  }
}

// Key slots are made ahead, a batch in one synced write, and each is
// handed out once: durable before it is handed out, never again after a
// restart (those made but not handed out are skipped), and destroyed like
// any key.
TEST_F(KeyStoreTest, KeySlotsAreDurableBeforeHandedOutAndNeverHandedOutTwice) {
  std::map<uint64_t, std::string> taken;
  uint64_t returned = 0;
  {
    auto store = OpenStore();
    for (size_t i = 0; i < privacy::KeyStore::kSlotBatch + 3; ++i) {
      auto slot = store->TakeSlot();
      ASSERT_TRUE(slot.ok()) << slot.status();
      EXPECT_EQ(slot->key.size(), 32u);
      EXPECT_TRUE(taken.emplace(slot->number, slot->key).second) << slot->number;
    }
    EXPECT_EQ(taken.begin()->first, 1u);
    EXPECT_EQ(taken.rbegin()->first, privacy::KeyStore::kSlotBatch + 3);
    // A slot given back (its record was refused) is the next handed out.
    auto unused = store->TakeSlot();
    ASSERT_TRUE(unused.ok());
    returned = unused->number;
    store->ReturnSlot(*unused);
    auto again = store->TakeSlot();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->number, returned);
    EXPECT_EQ(again->key, unused->key);
  }
  auto store = OpenStore();
  for (const auto& [number, key] : taken) {
    auto found = store->Find(SlotSubject(number));
    ASSERT_TRUE(found.ok()) << number << ": " << found.status();
    EXPECT_EQ(*found, key);
  }
  auto after = store->TakeSlot();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->number, 2 * privacy::KeyStore::kSlotBatch + 1);  // the second batch is skipped
  EXPECT_GT(after->number, returned);
  // Told of a slot beyond the ones made (records sealed under a store
  // since lost), it skips past it; told of one it made, it does not.
  auto skipped = store->SkipSlotsThrough(after->number);
  ASSERT_TRUE(skipped.ok());
  EXPECT_FALSE(*skipped);
  skipped = store->SkipSlotsThrough(5000);
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(*skipped);
  auto beyond = store->TakeSlot();
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(beyond->number, 5001u);
  ASSERT_TRUE(store->Destroy(SlotSubject(1)).ok());
  EXPECT_TRUE(absl::IsNotFound(store->Find(SlotSubject(1)).status()));
  EXPECT_TRUE(store->Find(SlotSubject(2)).ok());
}

TEST(KeySlotSubjectTest, RoundTripsAndRefusesOtherSubjects) {
  EXPECT_EQ(SlotSubject(1), "slot:0000000000000001");
  EXPECT_EQ(SlotSubject(0xabcdef), "slot:0000000000abcdef");
  for (uint64_t n : {uint64_t{1}, uint64_t{4711}, ~uint64_t{0}}) {
    EXPECT_EQ(SlotOfSubject(SlotSubject(n)), n);
  }
  for (const char* other : {"case:slot", "slot:1", "slot:000000000000000g", "person:x",
                            "slot:00000000000000010", "Slot:0000000000000001", ""}) {
    EXPECT_EQ(SlotOfSubject(other), 0u) << other;
  }
}

TEST_F(KeyStoreTest, AnotherMasterKeyIsRefused) {
  OpenStore().reset();
  auto other = privacy::KeyStore::Open(dir_.Sub("keys"), std::string(32, 'o'));
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status()));
  EXPECT_TRUE(absl::IsInvalidArgument(privacy::KeyStore::Open(dir_.Sub("k2"), "short").status()));
}

TEST_F(KeyStoreTest, SealedFieldsOpenOnlyInTheirPlaceAndNotAfterErasure) {
  auto store = OpenStore();
  privacy::RecordSealer sealer(store.get());
  v1::Record r;
  *r.mutable_event() = testing::NoteEvent("n1", "c1", "coughing, lives alone");
  r.set_partition(2);
  r.set_position(41);
  const v1::Record original = r;
  privacy::KeyStore::Pending pending;
  auto key = sealer.KeyFor(r.event(), &pending);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(store->Persist(&pending).ok());
  v1::Event personal;
  auto sealed = privacy::RecordSealer::Seal(*key, SubjectOf(r.event()), &r, &personal);
  ASSERT_TRUE(sealed.ok() && *sealed);
  EXPECT_EQ(r.event().note().text(), "");
  EXPECT_EQ(r.sealed().subject(), "case:c1");
  EXPECT_EQ(r.SerializeAsString().find("coughing"), std::string::npos);
  const v1::Record stored = r;

  v1::Record opened = stored;
  ASSERT_TRUE(sealer.Open(&opened).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(opened, original));

  v1::Record moved = stored;  // the same bytes at another position
  moved.set_position(42);
  EXPECT_TRUE(absl::IsDataLoss(sealer.Open(&moved)));

  // The engine's own cases hold no resident's data: not sealed.
  v1::Event directory = testing::NoteEvent("d", "~directory", "x");
  EXPECT_EQ(*sealer.KeyFor(directory, &pending), "");

  ASSERT_TRUE(store->Destroy("case:c1").ok());
  v1::Record after = stored;
  const absl::Status st = sealer.Open(&after);
  EXPECT_TRUE(absl::IsNotFound(st));
  EXPECT_THAT(std::string(st.message()), HasSubstr("its key is not here"));
}

}  // namespace
}  // namespace gridcase
